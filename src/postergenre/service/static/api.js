// The JSON API (/v1/...): requests, the server's own words for errors, downloads.

export const isAbort = (err) => Boolean(err) && err.name === "AbortError";

const UNREACHABLE = "Cannot reach the postergenre service. Is `postergenre serve` still running?";

export async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    if (isAbort(err)) throw err;  // replaced by a newer request: not an error to show
    throw new Error(UNREACHABLE);
  }
  if (!response.ok) throw await apiError(response);
  return response.json();
}

// The server's own words (its `error` field), plus when to retry if it is busy.
async function apiError(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    // `message` is the server's plain words where `error` is technical (e.g. a poster URL that failed).
    if (body && (body.message || body.error)) message = body.message || body.error;
  } catch (err) { /* not JSON: keep the status line */ }
  const wait = response.status === 503 && response.headers.get("Retry-After");
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
  return { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

// POST a form and save the answer as a file (the server names it in Content-Disposition).
export async function download(path, form, fallbackName) {
  let response;
  try {
    response = await fetch(path, { method: "POST", body: form });
  } catch (err) {
    throw new Error(UNREACHABLE);
  }
  if (!response.ok) throw await apiError(response);
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
