/** The few HTTP calls the load generator needs to set up users and chats. */
export async function api<T>(base: string, method: string, path: string, body?: unknown, token?: string): Promise<T> {
  const res = await fetch(base + path, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

export interface BenchUser {
  userId: string;
  token: string;
}

/** Signs up `count` users with a few requests in flight (scrypt makes each one ~30 ms of CPU). */
export async function signupMany(base: string, prefix: string, count: number): Promise<BenchUser[]> {
  const users: BenchUser[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < count) {
        const i = next++;
        const r = await api<{ userId: string; token: string }>(base, "POST", "/v1/auth/signup", {
          handle: `${prefix}${i}`,
          displayName: `bench ${i}`,
          password: "bench-password",
        });
        users[i] = { userId: r.userId, token: r.token };
      }
    }),
  );
  return users;
}
