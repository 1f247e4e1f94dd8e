/** Answers with the process it runs in: an inline pool's actor runs inside a front worker, so this is the worker that holds the connection. */
export default {
  receive: () => ({ pid: process.pid }),
};
