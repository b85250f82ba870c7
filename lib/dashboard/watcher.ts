/**
 * The change watcher: asks a cheap question (the gold copy's stat,
 * Snowflake's newest write, the pipeline's status) at a fixed interval while
 * someone listens, and tells the listeners when the answer changes. It polls
 * only while it has a listener, so a dashboard nobody looks at costs
 * nothing; the server's event stream (./events.ts) is its listener.
 *
 * @module
 */
import { logger } from "../runtime/log.ts";

const log = logger("dashboard");

/** Options for {@linkcode ChangeWatcher}. */
export interface ChangeWatcherOptions {
  /** What is watched, as log lines name it, e.g. `gold`. */
  name: string;
  /** How long between two probes, in milliseconds. */
  everyMs: number;
}

/** Called with the probe's new answer (`undefined`: nothing there yet). */
export type ChangeListener = (version: string | undefined) => void;

/** Polls a probe while it has listeners and reports each change. */
export class ChangeWatcher {
  readonly #probe: () => Promise<string | undefined>;
  readonly #name: string;
  readonly #everyMs: number;
  readonly #listeners = new Set<ChangeListener>();
  #version: string | undefined;
  #known = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #polling = false;
  #lastError: string | undefined;

  /**
   * Creates a watcher; it probes nothing until it has a listener.
   *
   * @param probe Returns a token that changes when the watched thing does.
   * @param options Its name and interval.
   * @throws {RangeError} When `everyMs` is not a positive number.
   */
  constructor(
    probe: () => Promise<string | undefined>,
    options: ChangeWatcherOptions,
  ) {
    if (!(options.everyMs > 0)) {
      throw new RangeError(
        `Cannot watch ${options.name} as 'everyMs' must be a positive number: current value is ${options.everyMs}`,
      );
    }
    this.#probe = probe;
    this.#name = options.name;
    this.#everyMs = options.everyMs;
  }

  /** The last answer of the probe, `undefined` before the first or while nothing is there. */
  get version(): string | undefined {
    return this.#version;
  }

  /**
   * Adds a listener; the first one starts the polling.
   *
   * @param listener Called after each change.
   * @returns A function that removes the listener; the last one's removal stops the polling.
   */
  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    if (!this.#polling) {
      this.#polling = true;
      this.#tick();
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stop();
    };
  }

  /** Stops polling and forgets every listener. */
  close(): void {
    this.#listeners.clear();
    this.#stop();
  }

  /** Stops a poll that waits; one under way stops itself when it ends. */
  #stop(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#polling = false;
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    try {
      const version = await this.#probe();
      this.#lastError = undefined;
      if (!this.#known || version !== this.#version) {
        this.#known = true;
        this.#version = version;
        for (const listener of this.#listeners) listener(version);
      }
    } catch (error) {
      // Said once per distinct failure: a source that stays down is one line.
      const message = error instanceof Error ? error.message : String(error);
      if (message !== this.#lastError) {
        log.warn(`cannot watch ${this.#name}`, { error: message });
        this.#lastError = message;
      }
    }
    if (this.#listeners.size > 0) {
      this.#timer = setTimeout(() => this.#tick(), this.#everyMs);
    } else {
      this.#polling = false;
    }
  }
}
