/** The logged-in session and the names the client has learned, in `localStorage`. */
import type { User } from "@natter/client";

export interface SavedSession {
  token: string;
  userId: string;
  deviceId: string;
  expiresAt: number;
}

const SESSION_KEY = "natter:session";

export function loadSession(): SavedSession | undefined {
  try {
    const s = JSON.parse(localStorage.getItem(SESSION_KEY) ?? "null") as SavedSession | null;
    if (!s || typeof s.token !== "string" || typeof s.userId !== "string") return undefined;
    if (typeof s.expiresAt === "number" && s.expiresAt < Date.now()) return undefined;
    return s;
  } catch {
    return undefined;
  }
}

export function saveSession(s: SavedSession): void {
  localStorage.setItem(SESSION_KEY, JSON.stringify(s));
}

export function clearSession(userId?: string): void {
  localStorage.removeItem(SESSION_KEY);
  if (userId) localStorage.removeItem(cursorKey(userId));
}

export function cursorKey(userId: string): string {
  return `natter:cursors:${userId}`;
}

/**
 * userId → handle and display name, learned from the chat list (a direct chat's peer), a
 * chat's members, `/v1/me`, handle lookups and, for someone seen first in an event, a lookup
 * by id; kept here so a reload starts with them. A user whose name could not be had shows as
 * a short id.
 */
export class Directory {
  readonly #key: string;
  readonly #users = new Map<string, User>();

  constructor(owner: string) {
    this.#key = `natter:users:${owner}`;
    try {
      const list = JSON.parse(localStorage.getItem(this.#key) ?? "[]") as User[];
      for (const u of list) if (u && typeof u.userId === "string") this.#users.set(u.userId, u);
    } catch {
      // A corrupt entry: start over.
    }
  }

  learn(u: User): void {
    const had = this.#users.get(u.userId);
    if (had && had.handle === u.handle && had.displayName === u.displayName) return;
    this.#users.set(u.userId, { userId: u.userId, handle: u.handle, displayName: u.displayName });
    localStorage.setItem(this.#key, JSON.stringify([...this.#users.values()].slice(-2000)));
  }

  get(userId: string): User | undefined {
    return this.#users.get(userId);
  }

  /** A display name, or a short form of the id. */
  name(userId: string): string {
    return this.#users.get(userId)?.displayName ?? `user ${userId.slice(-6)}`;
  }
}
