import { useEffect, useState } from 'preact/hooks';

/**
 * Hash routes (`#/resources/ID`): the server serves one page, and every route works behind
 * any path prefix without the server knowing the console's routes.
 */
export interface Route {
  /** The path after `#`, without its query: `/resources/abc`. */
  path: string;
  /** The query after the path: `#/resources?type=doc` → `type=doc`. */
  query: URLSearchParams;
}

export function currentRoute(): Route {
  const hash = window.location.hash.replace(/^#/, '') || '/';
  const [path = '/', query = ''] = hash.split('?', 2);
  return { path, query: new URLSearchParams(query) };
}

/** The current route; the component re-renders when it changes. */
export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const onChange = () => setRoute(currentRoute());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** The href of a route, for `<a href>`: `href('/resources', { type: 'doc' })`. */
export function href(path: string, query?: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined && value !== '') params.set(key, String(value));
  const search = params.toString();
  return `#${path}${search ? `?${search}` : ''}`;
}

/** Goes to a route; `replace` keeps the current one out of the history (after a redirect). */
export function navigate(path: string, query?: Record<string, string | number | undefined>, { replace = false } = {}): void {
  const target = href(path, query);
  if (replace) window.location.replace(target);
  else window.location.hash = target;
}

/**
 * Matches `/resources/:id/history` against a path: the named parts, or undefined. Parts are
 * decoded, so an id is what the API knows.
 */
export function match(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split('/');
  const have = path.split('/');
  if (want.length !== have.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i += 1) {
    const part = want[i]!;
    if (part.startsWith(':')) params[part.slice(1)] = decodeURIComponent(have[i]!);
    else if (part !== have[i]) return undefined;
  }
  return params;
}
