/** The logged-in session and the `localStorage` keys of what the SDK keeps per user. */

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

/** Where `client.users` keeps the names it learned (handles and display names). */
export function usersKey(userId: string): string {
  return `natter:users:${userId}`;
}
