import { PROTOCOL_VERSION } from '../protocol/version.js';
import { VERSION } from '../version.js';

/** The protocol version module of the actorrt installed on disk (what new children are forked from). */
export const INSTALLED_VERSION_MODULE = new URL('../protocol/version.js', import.meta.url);

/**
 * Why the actorrt installed at `versionModule` cannot run children for this primary (a package
 * upgrade under a running instance), or undefined when it speaks this primary's protocol. The
 * module is imported afresh (a query string makes it a new module instance), so the copy on
 * disk answers, not the one this process loaded at start.
 */
export async function protocolMismatch(versionModule: URL): Promise<string | undefined> {
  let installed: unknown;
  try {
    const fresh = new URL(versionModule);
    fresh.searchParams.set('installed', String(Date.now()));
    const mod: unknown = await import(fresh.href);
    installed = mod !== null && typeof mod === 'object' ? (mod as { PROTOCOL_VERSION?: unknown }).PROTOCOL_VERSION : undefined;
  } catch (err) {
    return `the installed actorrt cannot be read (${err instanceof Error ? err.message : String(err)}), so no new process could start: nothing was replaced. `
      + 'Reinstall it, then restart the instance';
  }
  if (installed === PROTOCOL_VERSION) return undefined;
  return `the installed actorrt speaks protocol ${String(installed)}; this running instance speaks protocol ${PROTOCOL_VERSION} (actorrt ${VERSION}). `
    + 'Processes of the two cannot work together, so nothing was replaced: restart the instance (actorrt stop, then actorrt start) to run the installed version';
}
