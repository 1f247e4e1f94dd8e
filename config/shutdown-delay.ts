/**
 * What `http.shutdownDelay: auto` (the default) means. kubelet sets KUBERNETES_SERVICE_HOST in
 * every container of a pod, so its presence is how a process knows it runs behind Kubernetes
 * Services: there, endpoint removal runs in parallel with the SIGTERM (kubernetes #67592), and
 * load balancers keep sending new connections for a few seconds after it. Anywhere else a stop
 * is immediate, so development and tests stop at once.
 */

/** Milliseconds `auto` stands for inside a Kubernetes pod (what people put in a preStop `sleep`). */
export const KUBERNETES_SHUTDOWN_DELAY = 5000;

/**
 * Milliseconds a stop keeps serving before it drains: `value` itself, or for `auto`
 * KUBERNETES_SHUTDOWN_DELAY when `env.KUBERNETES_SERVICE_HOST` is set and not empty, else 0.
 */
export function resolveShutdownDelay(value: number | 'auto', env: NodeJS.ProcessEnv = process.env): number {
  if (value !== 'auto') return value;
  const host = env['KUBERNETES_SERVICE_HOST'];
  return host !== undefined && host.trim() !== '' ? KUBERNETES_SHUTDOWN_DELAY : 0;
}
