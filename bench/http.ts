/**
 * A small JSON client for scenario setup hooks (log in, create records, …). Not used under
 * load: autocannon sends the measured requests.
 */

export interface JsonResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/**
 * Sends one request and parses the JSON answer. Throws, with the server's answer in the
 * message, unless the status is 2xx: a setup that half-worked must not produce numbers.
 */
export async function requestJson<T = unknown>(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse<T>> {
  const res = await fetch(baseUrl + path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (res.status < 200 || res.status > 299) {
    throw new Error(`setup: ${method} ${path} answered ${res.status}: ${text.slice(0, 500)}`);
  }
  let parsed: unknown = undefined;
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`setup: ${method} ${path} answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
    }
  }
  return { status: res.status, headers: res.headers, body: parsed as T };
}
