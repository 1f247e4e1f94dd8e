/**
 * The version of the primary <-> child protocol. Bump it whenever a message or a shape in this
 * folder changes in a way an older peer would misread. It travels in the first message each way
 * (`booted`, `start` / `start-pool`), so a child of another install (`actorrt reload --roll` after
 * an upgrade) is refused with both versions named instead of misbehaving. Kept in a module of its
 * own, without imports, so the primary can read the installed copy's value before a roll.
 */
// 3: channel request frames carry the client's ip and protocol (http.trustProxy); an older pool
// process would drop them and hand its actors a request without them.
// 4: channel request frames carry the caller's W3C traceparent (`tp`) and tracestate (`ts`); an
// older pool process would refuse them (BadFrameError) or hand its actors a request without `trace`.
// 5: the primary scrapes metrics through `stats` replies (`metrics`), children send `final-metrics` as they
// drain and front workers ask for `scrape`; pool loads carry `busy`.
// 6: the primary tells children whether the instance is cut off from the invalidation bus (`bus`), and
// front workers to leave their load balancers before a stop drains them (`leave`).
// 7: front workers share a connection board (start's `boardSlot`, BOARD_FD) and rehome connections past
// their share through the primary (`hand-off`, `adopt`, each carrying the connection's handle).
// 8: pool loads carry counters for the autoscaler (`completed`, `inflightSeconds`, `busySeconds`); an
// older child's stats replies would be refused for lacking them.
export const PROTOCOL_VERSION = 8;
