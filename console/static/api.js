// Calls the server's Connect JSON surface (POST /<package>.<Service>/<Method>, proto3 JSON) on the
// page's own origin, with the signed-in principal's bearer token.

const PACKAGE = 'kcn.ledger.v1';

/** A refused call: the Connect error code ("permission_denied", ...) and the server's message. */
export class CallError extends Error {
  constructor(code, message, details) {
    super(`${code}: ${message}`);
    this.code = code;
    this.details = details || [];
  }
}

export function token() {
  return sessionStorage.getItem('kcn.token') || '';
}

export function setToken(value) {
  if (value) sessionStorage.setItem('kcn.token', value);
  else sessionStorage.removeItem('kcn.token');
}

/** Calls `service`.`method` with the proto3 JSON `body`; resolves to the answer's JSON. */
export async function call(service, method, body = {}) {
  const headers = { 'content-type': 'application/json' };
  const bearer = token();
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  let response;
  try {
    response = await fetch(`/${PACKAGE}.${service}/${method}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
    });
  } catch (e) {
    throw new CallError('unavailable', `the server could not be reached (${e.message})`);
  }
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    throw new CallError('unknown', `the server answered HTTP ${response.status} with no JSON`);
  }
  if (!response.ok) {
    throw new CallError(json.code || 'unknown', json.message || `HTTP ${response.status}`, json.details);
  }
  return json;
}

/** Every page of a paginated list: `field` of each answer, concatenated, up to `max` items. */
export async function all(service, method, body, field, max = 5000) {
  const items = [];
  let pageToken = '';
  do {
    const answer = await call(service, method, { ...body, pageSize: 1000, pageToken });
    items.push(...(answer[field] || []));
    pageToken = answer.nextPageToken || '';
  } while (pageToken && items.length < max);
  return items;
}
