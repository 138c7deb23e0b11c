// Talks to TensorBoard's plugin host. TensorBoard 2.21 answers a
// "experimental.bootstrap" message carrying a MessagePort; over that port it
// sends JSON messages `{type, id, payload, error, isReply}` and broadcasts
// "experimental.DataReloaded" after its reload button or auto-reload. When
// no host answers (an older TensorBoard, or the page opened on its own) we
// fall back to polling.

const BOOTSTRAP = "experimental.bootstrap";
const DATA_RELOADED = "experimental.DataReloaded";
const GET_RUNS = "experimental.GetRuns";
const FALLBACK_POLL_MS = 30_000;

interface Message {
  type: string;
  id: number;
  payload: unknown;
  error: string | null;
  isReply: boolean;
}

export function connectToHost(onReload: () => void): void {
  let connected = false;
  let poll: number | undefined;
  const startPolling = () => {
    if (poll === undefined) poll = window.setInterval(onReload, FALLBACK_POLL_MS);
  };
  if (window.parent === window) {
    startPolling();
    return;
  }
  const channel = new MessageChannel();
  const port = channel.port1;
  port.onmessage = (event: MessageEvent) => {
    let message: Message;
    try {
      message = JSON.parse(String(event.data)) as Message;
    } catch {
      return;
    }
    connected = true;
    if (poll !== undefined) {
      window.clearInterval(poll);
      poll = undefined;
    }
    if (message.isReply) return;
    if (message.type === DATA_RELOADED) onReload();
    // The host awaits a reply to every broadcast.
    port.postMessage(JSON.stringify({ type: message.type, id: message.id, payload: null, error: null, isReply: true }));
  };
  try {
    window.parent.postMessage(BOOTSTRAP, window.location.origin, [channel.port2]);
    // Any reply proves the host listens; without one, poll.
    port.postMessage(JSON.stringify({ type: GET_RUNS, id: 0, payload: null, error: null, isReply: false }));
  } catch {
    startPolling();
    return;
  }
  window.setTimeout(() => {
    if (!connected) startPolling();
  }, 5_000);
}
