// The JSON API (/v1/...): requests, the server's own words for errors, downloads.
//
// Requests are same-origin fetches: the browser sends the session cookie (HttpOnly: the page never sees it) and,
// on a request that changes something, Origin (and Sec-Fetch-Site where the page is a secure context), which the
// server's cross-site check reads. A 401 brings the login back (`onLoginNeeded`) and rejects with an error `isAbort`
// recognises: the login says what happened, no error banner repeats it.

const UNREACHABLE = "Cannot reach the postergenre service. Is `postergenre serve` still running?";
const LOGIN_NEEDED = "LoginNeeded";

let loginNeeded = () => {};

// Who shows the login when the server answers 401 (session.js).
export function onLoginNeeded(handler) {
  loginNeeded = handler;
}

// Replaced by a newer request, or handed to the login: not an error to show.
export const isAbort = (err) => Boolean(err) && (err.name === "AbortError" || err.name === LOGIN_NEEDED);

export const isLoginNeeded = (err) => Boolean(err) && err.name === LOGIN_NEEDED;

// `login: false`: a 401 is the caller's to show (the login form's own request).
async function send(path, options, { login = true } = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    if (isAbort(err)) throw err;  // replaced by a newer request: not an error to show
    throw new Error(UNREACHABLE);
  }
  if (response.ok) return response;
  const error = await apiError(response);
  if (response.status === 401 && login) {
    loginNeeded();
    error.name = LOGIN_NEEDED;
  }
  throw error;
}

export async function api(path, options = {}, how = {}) {
  const response = await send(path, options, how);
  return response.status === 204 ? null : response.json();
}

// A JSON body for POST, PATCH ...
export const jsonBody = (method, body) => ({ method, headers: { "Content-Type": "application/json" },
                                             body: JSON.stringify(body) });

// The server's own words (its `error` field), plus when to retry if it is busy or slowing down wrong tokens.
async function apiError(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    // `message` is the server's plain words where `error` is technical (e.g. a poster URL that failed).
    if (body && (body.message || body.error)) message = body.message || body.error;
  } catch (err) { /* not JSON: keep the status line */ }
  const wait = [429, 503].includes(response.status) && response.headers.get("Retry-After");
  const error = new Error(wait ? `${message} (try again in ${wait} s)` : message);
  error.status = response.status;
  return error;
}

// The poster as a request body: a multipart upload, or JSON {"url"}; with the synopsis when one is given.
export function posterBody(variant, synopsis = "") {
  if (variant.file) {
    const form = new FormData();
    form.append("file", variant.file, variant.name);
    if (synopsis) form.append("synopsis", synopsis);
    return { method: "POST", body: form };
  }
  const body = { url: variant.url };
  if (synopsis) body.synopsis = synopsis;
  return jsonBody("POST", body);
}

// Ask for a file and save the answer (the server names it in Content-Disposition): a POSTed form, or a GET.
export async function download(path, options, fallbackName) {
  const response = await send(path, options);
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/i.exec(disposition);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = match ? match[1] : fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
