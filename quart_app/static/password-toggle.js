// Show-password buttons: one beside every password field, switching it between hidden and
// shown. A file of its own (the CSP allows no inline script) and progressive: without it, or
// without JavaScript, the fields work as they always did.
(() => {
  "use strict";

  function addToggle(field) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "password-toggle secondary";
    button.textContent = "Show";
    button.setAttribute("aria-label", "Show password");
    button.setAttribute("aria-pressed", "false");
    if (field.id) button.setAttribute("aria-controls", field.id);
    button.addEventListener("click", () => {
      const show = field.type === "password";
      field.type = show ? "text" : "password";
      button.textContent = show ? "Hide" : "Show";
      button.setAttribute("aria-pressed", String(show));
      field.focus();
    });
    const wrapper = document.createElement("div");
    wrapper.className = "password-field";
    // Moving a field drops its focus: a page that focused it (autofocus on the first invalid
    // field) must find it focused still.
    const hadFocus = document.activeElement === field;
    field.replaceWith(wrapper);
    wrapper.append(field, button);
    if (hadFocus || (field.autofocus && document.activeElement === document.body)) field.focus();
  }

  document.querySelectorAll('input[type="password"]').forEach(addToggle);
  // Hidden again as the form is sent: a password manager then saves it as a password.
  document.addEventListener("submit", (event) => {
    event.target.querySelectorAll(".password-field input").forEach((field) => {
      field.type = "password";
    });
  });
})();
