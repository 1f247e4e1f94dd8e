/** What every resource driver returns: the raw client actors use, a health check and a close. */
export interface Opened<Client> {
  readonly client: Client;
  /** One cheap round trip that proves the server answers (`SELECT 1`, `PING`, a probe request). */
  check(): Promise<void>;
  /** Release every connection; safe to call once. */
  close(): Promise<void>;
}
