// Passkeys (WebAuthn): the app's only script, served from 'self' (the CSP allows no inline
// script). Each element with data-passkey runs one ceremony: fetch its options (JSON) from
// data-options-url, ask the browser's authenticator, send the answer to data-finish-url, then
// follow the redirect the server names. Without WebAuthn (or JavaScript) the elements stay
// hidden and the password forms work as before.
"use strict";

(() => {
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  const fromBase64url = (text) => {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
  };
  const toBase64url = (buffer) => {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const decodeIds = (list) => (list || []).map((item) => ({ ...item, id: fromBase64url(item.id) }));

  const creationOptions = (options) => ({
    ...options,
    challenge: fromBase64url(options.challenge),
    user: { ...options.user, id: fromBase64url(options.user.id) },
    excludeCredentials: decodeIds(options.excludeCredentials),
  });
  const requestOptions = (options) => ({
    ...options,
    challenge: fromBase64url(options.challenge),
    allowCredentials: decodeIds(options.allowCredentials),
  });

  const credentialJSON = (credential) => {
    const response = credential.response;
    const json = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      response: { clientDataJSON: toBase64url(response.clientDataJSON) },
    };
    if (response.attestationObject) {
      json.response.attestationObject = toBase64url(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toBase64url(response.authenticatorData);
      json.response.signature = toBase64url(response.signature);
      if (response.userHandle) json.response.userHandle = toBase64url(response.userHandle);
    }
    return json;
  };

  const csrfToken = () => {
    const field = document.querySelector('input[name="csrf_token"]');
    return field ? field.value : "";
  };

  const post = async (url, body) => {
    const answer = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(body),
    });
    let data = {};
    try {
      data = await answer.json();
    } catch {
      // an HTML error page (e.g. 429 or 503): say so below
    }
    if (!answer.ok) {
      const wait = answer.headers.get("Retry-After");
      throw new Error(
        data.error || (wait ? `Too many attempts: wait ${wait} seconds, then try again.`
                            : "That did not work. Reload the page and try again."),
      );
    }
    return data;
  };

  const ceremonies = {
    async "sign-in"(element) {
      const options = await post(element.dataset.optionsUrl, {});
      const credential = await navigator.credentials.get({ publicKey: requestOptions(options.publicKey) });
      return post(element.dataset.finishUrl, { ceremony: options.ceremony, credential: credentialJSON(credential) });
    },
    async "second-factor"(element) {
      return ceremonies["sign-in"](element);
    },
    async add(element) {
      const value = (name) => (element.querySelector(`[name="${name}"]`) || {}).value || "";
      const options = await post(element.dataset.optionsUrl, {
        name: value("name"),
        current_password: value("current_password"),
      });
      const credential = await navigator.credentials.create({ publicKey: creationOptions(options.publicKey) });
      return post(element.dataset.finishUrl, { ceremony: options.ceremony, credential: credentialJSON(credential) });
    },
  };

  const start = (element) => {
    const run = ceremonies[element.dataset.passkey];
    const button = element.querySelector("button");
    const error = element.querySelector(".form-error");
    if (!run || !button) return;
    element.hidden = false;
    button.addEventListener("click", async () => {
      if (error) error.hidden = true;
      button.disabled = true;
      try {
        const done = await run(element);
        window.location.assign(done.redirect || "/");
      } catch (problem) {
        button.disabled = false;
        if (!error) return;
        error.textContent = problem && problem.name === "NotAllowedError"
          ? "The passkey request was cancelled or timed out."
          : (problem && problem.message) || "That did not work. Try again.";
        error.hidden = false;
      }
    });
  };

  const ready = () => document.querySelectorAll("[data-passkey]").forEach(start);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
