/** examples/hello's greeter as plain JavaScript (no TypeScript loader in the process). */
export default {
  init: () => ({ greeted: 0 }),
  receive: (state, req, ctx) => {
    state.greeted += 1;
    return { hello: req.params.name ?? 'world', actor: ctx.self.index, greeted: state.greeted };
  },
};
