// Logging in where the server asks for a team member's token.
//
// The page asks who it acts as (GET /v1/session). A server that answers 401 asks for a token: the login form sends
// it once (POST /v1/session), the server answers with a session cookie (HttpOnly, SameSite=Strict) and the page
// forgets the token (it is never stored). Any later 401 (the session expired, the member was removed) brings the
// login back with the server's sentence. An open server (127.0.0.1 without --require-token) shows no login at all.

import { api, isLoginNeeded, jsonBody, onLoginNeeded } from "./api.js";
import { $, clearError, clearNotice, showError } from "./dom.js";
import { state } from "./state.js";

const FIRST_LOGIN = "This server asks for a team member's token: paste yours to log in.";
const SESSION_ENDED = "You are no longer logged in: your session ended (it expired, or you were removed from the " +
                      "team). Log in again with your token.";

let hooks = { loggedIn: () => {}, loginShown: () => {} };
let waiting = null;  // the page's start, waiting for its first login

// `loggedIn()`: after a login that replaced an ended session; `loginShown(loggedOut)`: hide what the page showed
// (the person logged out on purpose: `loggedOut` true).
export function wireSession(handlers) {
  hooks = handlers;
  onLoginNeeded(needLogin);
  $("login-form").addEventListener("submit", (e) => { e.preventDefault(); logIn(); });
  $("logout").addEventListener("click", logOut);
}

// Who the page acts as. Where the server asks for a token and the browser holds no valid session, the login shows
// and this resolves once it succeeded.
export async function ensureSession() {
  try {
    useSession(await api("/v1/session"));
  } catch (err) {
    if (!isLoginNeeded(err)) throw err;
    await new Promise((resolve) => { waiting = resolve; });
  }
}

function useSession(who) {
  state.session = who;
  $("member").hidden = who.access === "open";  // an open server: its owner, nobody to name
  $("member-name").textContent = who.member;
  $("logout").hidden = who.access !== "session";
}

// A 401: no session yet, or the one the page had ended. (The server's sentence speaks to scripts as well, about
// headers; a person gets these.)
function needLogin() {
  if (!$("login").hidden) return;  // already asking (several requests failed at once)
  showLogin(state.session === null ? FIRST_LOGIN : SESSION_ENDED);
}

function showLogin(message, loggedOut = false) {
  state.session = null;
  for (const id of ["views", "view-read", "view-campaigns", "member", "logout", "login-error"]) $(id).hidden = true;
  clearError();
  clearNotice();
  hooks.loginShown(loggedOut);
  $("login-message").textContent = message;
  $("login").hidden = false;
  $("login-token").focus();
}

async function logIn() {
  const token = $("login-token").value.trim();
  if (!token) return;
  const button = $("login-submit");
  button.disabled = true;
  $("login-error").hidden = true;
  let who;
  try {
    who = await api("/v1/session", jsonBody("POST", { token }), { login: false });
  } catch (err) {
    $("login-error").textContent = err.message;  // the server's words: wrong token, or wait (429)
    $("login-error").hidden = false;
    return;
  } finally {
    button.disabled = false;
  }
  $("login-token").value = "";  // the session cookie carries on; the token is not kept
  $("login").hidden = true;
  useSession(who);
  if (waiting) {
    const start = waiting;
    waiting = null;
    start();
  } else {
    hooks.loggedIn();
  }
}

async function logOut() {
  try {
    await api("/v1/session", { method: "DELETE" });
  } catch (err) {
    if (!isLoginNeeded(err)) showError(err.message);
    return;
  }
  showLogin("You are logged out. Log in with your token to go on.", true);
}
