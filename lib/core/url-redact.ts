/**
 * A connection URL as it may be shown (CLI output, error messages): every credential removed,
 * whatever its form (issue 23.8). Pure.
 *
 * - userinfo: everything up to the LAST `@` before the query, so a password with an unencoded `@`
 *   or `/` (which drivers accept) goes whole: `postgres://u:p@ss@db/x` → `postgres://***@db/x`;
 * - query parameters: only an allowlist of harmless ones keeps its value (`sslmode`, `charset`…);
 *   every other value is `***` (`password`, `pass`, `pwd`, `user`, `sslkey`, `options`…, in any
 *   case or percent-encoding: the drivers honour several of them);
 * - the fragment is dropped.
 */

/** Query parameters whose values carry no credential and help to tell one database from another. */
const SHOWN_PARAMS: ReadonlySet<string> = new Set([
  'sslmode',
  'ssl',
  'charset',
  'timezone',
  'connect_timeout',
  'connecttimeout',
  'application_name',
  'schema',
  'search_path',
  'mode',
  'cache',
]);

function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' ')).trim().toLowerCase();
  } catch {
    return name.toLowerCase();
  }
}

function redactQuery(query: string): string {
  return query
    .split(/([&;])/)
    .map((part) => {
      if (part === '&' || part === ';' || part === '') return part;
      const eq = part.indexOf('=');
      if (eq === -1) return part.length > 0 && !SHOWN_PARAMS.has(decodedName(part)) ? '***' : part;
      const name = part.slice(0, eq);
      return SHOWN_PARAMS.has(decodedName(name)) ? part : `${name}=***`;
    })
    .join('');
}

export function credentialFreeUrl(url: string): string {
  const hash = url.indexOf('#');
  const noFragment = hash === -1 ? url : url.slice(0, hash);
  const q = noFragment.indexOf('?');
  const head = q === -1 ? noFragment : noFragment.slice(0, q);
  const query = q === -1 ? undefined : noFragment.slice(q + 1);
  const scheme = /^[a-z][a-z0-9+.-]*:(\/\/)?/i.exec(head)?.[0] ?? '';
  const rest = head.slice(scheme.length);
  const at = rest.lastIndexOf('@');
  const shownHead = at === -1 ? head : `${scheme}***@${rest.slice(at + 1)}`;
  return query === undefined ? shownHead : `${shownHead}?${redactQuery(query)}`;
}
