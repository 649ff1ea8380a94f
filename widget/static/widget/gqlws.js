// A small client for the graphql-transport-ws protocol
// (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md).
//
// One socket carries every operation. When it closes, the client reconnects by itself with
// exponential backoff and jitter, and sends every operation still running again, so the
// server's "current state at once" answers refresh the page after a restart.

const PROTOCOL = "graphql-transport-ws";
// Close codes after which trying again cannot help (bad request, forbidden).
const FATAL_CLOSE_CODES = new Set([4400, 4403]);

export class GraphQLSocket {
  /**
   * @param {string} url  ws:// or wss:// address of the GraphQL endpoint
   * @param {{connectionParams?: object, onState?: (state: string, detail?: object) => void,
   *          minDelayMs?: number, maxDelayMs?: number, ackTimeoutMs?: number}} options
   */
  constructor(url, options = {}) {
    this.url = url;
    this.connectionParams = options.connectionParams || {};
    this.onState = options.onState || (() => {});
    this.minDelayMs = options.minDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 15000;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 10000;
    this.operations = new Map();
    this.nextId = 1;
    this.attempt = 0;
    this.acknowledged = false;
    this.closedByUser = false;
    this.retryTimer = null;
    this.socket = null;
    window.addEventListener("online", () => this.retryNow());
    this.connect();
  }

  /** Start an operation; returns a function that stops it. */
  subscribe(query, variables, { next, error = () => {}, complete = () => {} }) {
    const id = String(this.nextId++);
    this.operations.set(id, { query, variables, next, error, complete });
    if (this.acknowledged) this.sendSubscribe(id);
    return () => {
      if (this.operations.delete(id) && this.acknowledged) this.send({ id, type: "complete" });
    };
  }

  /** Run a query or mutation once; resolves with its data, rejects with its errors. */
  request(query, variables) {
    return new Promise((resolve, reject) => {
      let result = null;
      this.subscribe(query, variables, {
        next: (payload) => { result = payload; },
        error: reject,
        complete: () => (result && result.errors ? reject(result.errors) : resolve(result && result.data)),
      });
    });
  }

  /** Close for good: no reconnection. */
  close() {
    this.closedByUser = true;
    clearTimeout(this.retryTimer);
    if (this.socket) this.socket.close(1000, "Normal Closure");
  }

  /** Reconnect at once if a retry is waiting (the network came back). */
  retryNow() {
    if (this.retryTimer === null || this.closedByUser) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  connect() {
    this.retryTimer = null;
    this.acknowledged = false;
    this.onState("connecting", { attempt: this.attempt });
    const socket = new WebSocket(this.url, PROTOCOL);
    this.socket = socket;
    let ackTimer = null;
    socket.onopen = () => {
      this.send({ type: "connection_init", payload: this.connectionParams });
      ackTimer = setTimeout(() => socket.close(4408, "Connection acknowledgement timeout"), this.ackTimeoutMs);
    };
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        socket.close(4400, "Invalid message");
        return;
      }
      this.handle(message, () => clearTimeout(ackTimer));
    };
    socket.onclose = (event) => {
      clearTimeout(ackTimer);
      if (this.socket !== socket) return;
      this.acknowledged = false;
      if (this.closedByUser) {
        this.onState("closed", { code: event.code });
      } else if (FATAL_CLOSE_CODES.has(event.code)) {
        this.onState("refused", { code: event.code, reason: event.reason });
      } else {
        this.scheduleRetry(event.code);
      }
    };
  }

  handle(message, acknowledged) {
    const operation = this.operations.get(message.id);
    switch (message.type) {
      case "connection_ack":
        acknowledged();
        this.acknowledged = true;
        this.attempt = 0;
        this.onState("open");
        for (const id of this.operations.keys()) this.sendSubscribe(id);
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "next":
        if (operation) operation.next(message.payload);
        break;
      case "error":
        if (operation) {
          this.operations.delete(message.id);
          operation.error(message.payload);
        }
        break;
      case "complete":
        if (operation) {
          this.operations.delete(message.id);
          operation.complete();
        }
        break;
      default:
        break;
    }
  }

  scheduleRetry(code) {
    const ceiling = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** this.attempt);
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.attempt += 1;
    this.onState("waiting", { code, delay, attempt: this.attempt });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  sendSubscribe(id) {
    const { query, variables } = this.operations.get(id);
    this.send({ id, type: "subscribe", payload: { query, variables } });
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }
}
