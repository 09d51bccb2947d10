/**
 * The load generator's view of a chat system: open a client for a user, send a message to
 * a chat, and hear back acks and deliveries. One implementation per system under test
 * (Natter, Socket.IO, Centrifugo…); the load loop, the histograms and the G1/G2/G4 checks
 * are shared.
 */
export interface ClientHandlers {
  /** The system accepted (and, for Natter, persisted) message `id` in `chat` as number `n`. */
  onAck(chat: string, id: string, n: number): void;
  /** The system refused message `id` in `chat`. */
  onError(chat: string, id: string, message: string): void;
  /** An event reached this client: `n` is the chat's number, `id` the client id of a message. */
  onEvent(chat: string, n: number, id: string | undefined): void;
  /** Resilient clients: message `id` was acked twice with different `n` (a G2 violation). */
  onDoubleAck?(chat: string, id: string, n1: number, n2: number): void;
  /** Resilient clients: a send answered with a retryable error is being sent again. */
  onRetry?(chat: string, id: string, code: string): void;
}

export interface ClientSpec {
  userId: string;
  /** Natter access token (other systems derive what they need from userId). */
  token: string;
  /** Base URL of the server this client connects to (http://127.0.0.1:port). */
  endpoint: string;
  /** Source address for the TCP connection (127.0.0.2, …) so many clients fit in the port range. */
  localAddress?: string;
  /** The chats this user is a member of. */
  chats: string[];
  /** Where to reconnect when `endpoint` is down (resilient clients), tried round robin after it. */
  fallbacks?: string[];
  /** Reconnect by itself and resend unanswered sends with the same id (the chaos run). */
  resilient?: boolean;
}

export interface BenchClient {
  send(chat: string, id: string, body: string): void;
  /** Closes the connection (a disconnect the system sees). */
  close(): void;
  /**
   * Opens it again and resumes: Natter syncs from the last `n` held per chat; a system
   * with no resume just rejoins its rooms.
   */
  reopen(): Promise<void>;
  /** Closes for good (no reconnect); optional for systems without background work. */
  stop?(): void;
}

export interface SystemAdapter {
  name: string;
  open(spec: ClientSpec, handlers: ClientHandlers): Promise<BenchClient>;
}
