/** Log in or sign up; on success hands the session to `done`. */
import { NatterHttp, type Session } from "@natter/client";
import { errorText, h, setChildren } from "./dom.ts";

export function showLogin(root: HTMLElement, done: (s: Session) => void, notice?: string): void {
  const http = new NatterHttp({ servers: location.origin });
  const status = h("p", { class: "error", role: "alert", id: "login-error" }, notice ?? "");

  const field = (id: string, label: string, attrs: Record<string, string | number | boolean>) =>
    h(
      "div",
      { class: "field" },
      h("label", { for: id }, label),
      h("input", { id, name: id, required: true, ...attrs }),
    );

  const login = h(
    "form",
    { id: "login-form", class: "card", "aria-labelledby": "login-title" },
    h("h2", { id: "login-title" }, "Log in"),
    field("login-handle", "Handle", { autocomplete: "username", autocapitalize: "none", spellcheck: "false" }),
    field("login-password", "Password", { type: "password", autocomplete: "current-password" }),
    h("button", { type: "submit", class: "primary" }, "Log in"),
  );
  const signup = h(
    "form",
    { id: "signup-form", class: "card", "aria-labelledby": "signup-title" },
    h("h2", { id: "signup-title" }, "Create an account"),
    field("signup-handle", "Handle", {
      autocomplete: "username",
      autocapitalize: "none",
      spellcheck: "false",
      pattern: "[A-Za-z0-9_.]{3,32}",
      title: "3 to 32 letters, digits, _ or .",
    }),
    field("signup-name", "Display name", { autocomplete: "name", maxlength: 64 }),
    field("signup-password", "Password", { type: "password", autocomplete: "new-password", minlength: 8 }),
    h("button", { type: "submit", class: "primary" }, "Sign up"),
  );

  const value = (form: HTMLFormElement, name: string) => (form.elements.namedItem(name) as HTMLInputElement).value;
  const wire = (form: HTMLFormElement, run: () => Promise<Session>) => {
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const button = form.querySelector("button")!;
      button.disabled = true;
      status.textContent = "";
      run().then(done, (err: unknown) => {
        const code = (err as { code?: string }).code;
        status.textContent =
          code === "bad_credentials"
            ? "Wrong handle or password."
            : code === "handle_taken"
              ? "That handle is taken. Pick another one."
              : errorText(err);
        button.disabled = false;
      });
    });
  };
  wire(login, () => http.login(value(login, "login-handle").trim(), value(login, "login-password"), deviceName()));
  wire(signup, () =>
    http.signup(
      value(signup, "signup-handle").trim(),
      value(signup, "signup-name").trim(),
      value(signup, "signup-password"),
    ),
  );

  setChildren(
    root,
    h(
      "div",
      { class: "login" },
      h("h1", { class: "brand big" }, "Natter"),
      status,
      h("div", { class: "cards" }, login, signup),
    ),
  );
  (login.querySelector("input") as HTMLInputElement).focus();
}

function deviceName(): string {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua)
    ? "Firefox"
    : /Edg\//.test(ua)
      ? "Edge"
      : /Chrom/.test(ua)
        ? "Chrome"
        : /Safari\//.test(ua)
          ? "Safari"
          : "Browser";
  return `${browser} (web)`;
}
