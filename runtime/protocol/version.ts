/**
 * The version of the primary <-> child protocol. Bump it whenever a message or a shape in this
 * folder changes in a way an older peer would misread. It travels in the first message each way
 * (`booted`, `start` / `start-pool`), so a child of another install (`actorrt reload --roll` after
 * an upgrade) is refused with both versions named instead of misbehaving. Kept in a module of its
 * own, without imports, so the primary can read the installed copy's value before a roll.
 */
// 3: channel request frames carry the client's ip and protocol (http.trustProxy); an older pool
// process would drop them and hand its actors a request without them.
export const PROTOCOL_VERSION = 4;
