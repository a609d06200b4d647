/**
 * A local GGUF model as the judge, through node-llama-cpp (the optional dependency the gguf
 * rollout backend uses, pinned at 3.21.1 and loaded by its `loadLlama`: CPU, prebuilt binary,
 * nothing downloaded). It is a {@link ChatTransport}, so the JudgeClient's answer cache, retry
 * loop, statistics and the CLI's progress and cost lines are the same as for an HTTP judge.
 *
 * Chat formatting. A GGUF that carries a chat template (`tokenizer.chat_template`) is formatted
 * with it, through node-llama-cpp's `resolveChatWrapper`: one of its built-in wrappers when that
 * renders the template identically (ChatML, Llama 3, Qwen, ...), else the Jinja template itself.
 * A GGUF without a template (or with one node-llama-cpp cannot render, which the CLI's format
 * line says) gets node-llama-cpp's General format, written out here so it is
 * documented: `<BOS>{system}\n\n### Human\n{user}\n\n### Assistant\n`, the answer ending at
 * the end-of-generation token or a `### ` heading.
 *
 * Determinism. One context of one sequence on one thread; every request starts from an empty
 * sequence (no KV-cache reuse across requests), so an answer depends on the request alone, not
 * on what was judged before or in which order. Temperature 0 is greedy decoding; with a
 * temperature above 0 sample j is drawn with seed `request.seed ?? j`, so the K samples of a
 * prompt differ from each other and a rerun draws them again. No repeat penalty. A prompt that
 * does not fit the context is an error, never silently truncated; the answer stops at
 * `max_tokens` or where the context ends, whichever is first.
 *
 * Failures are not retried: a local generation that fails would fail again the same way.
 */
import { createHash } from "node:crypto";
import { closeSync, createReadStream, openSync, readSync, statSync } from "node:fs";
import { basename, resolve } from "node:path";
import { ConfigError, InputError } from "../core/errors.js";
import { BackendError } from "../rollout/backend.js";
import { loadLlama } from "../rollout/gguf.js";
import { JudgeError, type ChatAnswer, type ChatRequest, type ChatTransport } from "./client.js";
import type { ChatMessage } from "./prompt.js";

/** The parts of node-llama-cpp used here (typed locally: the package is optional). */
type ChatHistoryItem = { type: "system"; text: string } | { type: "user"; text: string } | { type: "model"; response: string[] };
interface LlamaTextLike {
  tokenize(tokenizer: unknown): number[];
  toString(): string;
}
interface ChatWrapperLike {
  readonly wrapperName: string;
  generateContextState(o: { chatHistory: ChatHistoryItem[] }): { contextText: LlamaTextLike };
}
interface SequenceLike {
  clearHistory(): Promise<void>;
}
interface ContextLike {
  readonly contextSize: number;
  getSequence(): SequenceLike;
  dispose(): Promise<void>;
}
interface ModelLike {
  readonly trainContextSize: number;
  readonly tokenizer: unknown;
  readonly fileInfo: { metadata: { tokenizer?: { chat_template?: string } } };
  createContext(o: Record<string, unknown>): Promise<ContextLike>;
  dispose(): Promise<void>;
}
interface LlamaChatLike {
  generateResponse(history: ChatHistoryItem[], o: Record<string, unknown>): Promise<{ response: string }>;
  dispose(o: { disposeSequence: boolean }): void;
}
interface NodeLlamaCppChat {
  LlamaChat: new (o: { contextSequence: SequenceLike; chatWrapper: ChatWrapperLike; autoDisposeSequence: boolean }) => LlamaChatLike;
  GeneralChatWrapper: new () => ChatWrapperLike;
  resolveChatWrapper(model: ModelLike, o: { fallbackToOtherWrappersOnJinjaError: boolean; warningLogs: boolean }): ChatWrapperLike;
}

export interface GgufJudgeOptions {
  /** Tokens of context (default: the model's training context, at most 8192). */
  contextSize?: number;
  /** llama.cpp threads (default 1). */
  threads?: number;
}

const GGUF_MAGIC = "GGUF";

/**
 * Refuses, with one line naming the file, a path that is missing, not a file, or not a GGUF of
 * a version llama.cpp reads (checked by its first 8 bytes before llama.cpp sees it).
 */
export function checkGgufFile(path: string): void {
  let fd: number;
  try {
    if (!statSync(path).isFile()) throw new InputError(path, 0, "", "is not a file (--judge-model takes a .gguf file)");
    fd = openSync(path, "r");
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(path, 0, "", `cannot read the judge model (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const head = Buffer.alloc(8);
  let n: number;
  try {
    n = readSync(fd, head, 0, 8, 0);
  } finally {
    closeSync(fd);
  }
  if (n < 4 || head.toString("latin1", 0, 4) !== GGUF_MAGIC) throw new InputError(path, 0, "", "is not a GGUF model (it does not start with the bytes 'GGUF')");
  const version = n < 8 ? null : head.readUInt32LE(4);
  if (version !== 2 && version !== 3) throw new InputError(path, 0, "", `is GGUF version ${version ?? "(truncated)"}; llama.cpp reads versions 2 and 3`);
}

/**
 * The identity of a model file in answer-cache keys: its name, size and the sha256 of its bytes,
 * so a cache shared between runs never serves the answer of another model.
 */
export async function ggufIdentity(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `gguf:${basename(path)}:${statSync(path).size}:${hash.digest("hex")}`;
}

export class GgufJudge implements ChatTransport {
  readonly target: string;
  /** Same request at temperature 0, same answer (see the module comment). */
  readonly deterministic = true;
  /** Requests run one at a time: one sequence, and an order-independent answer per request. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    path: string,
    private readonly model: ModelLike,
    private readonly context: ContextLike,
    private readonly sequence: SequenceLike,
    private readonly chat: LlamaChatLike,
    /** The chat wrapper formatting the messages. */
    readonly wrapper: ChatWrapperLike,
    /** Which chat format is used and why, as the CLI prints it. */
    readonly formatName: string,
  ) {
    this.target = path;
  }

  /** Loads a GGUF judge (the file is checked first; a clear error when node-llama-cpp is absent). */
  static async open(path: string, opts: GgufJudgeOptions = {}): Promise<GgufJudge> {
    checkGgufFile(path);
    let llama: Awaited<ReturnType<typeof loadLlama>>;
    try {
      llama = await loadLlama();
    } catch (e) {
      // node-llama-cpp absent or unusable: something the user installs, so one line and exit 2.
      if (e instanceof BackendError) throw new ConfigError(`--judge-model ${path}: ${e.message}`);
      throw e;
    }
    const name = "node-llama-cpp"; // a variable, so tsc does not need the optional package
    const mod = (await import(name)) as NodeLlamaCppChat;
    // llama.cpp explains a failed load in its log, not in the error: keep the log for the one line.
    const logged = llama as unknown as { logger: (level: string, message: string) => void };
    const previous = logged.logger;
    const log: string[] = [];
    logged.logger = (_level, message) => log.push(...message.split("\n").map((l) => l.trim()).filter(Boolean));
    let model: ModelLike;
    try {
      model = (await llama.loadModel({ modelPath: resolve(path) })) as unknown as ModelLike;
    } catch (e) {
      throw new InputError(path, 0, "", `llama.cpp cannot load this model: ${log[0] ?? (e as Error).message.split("\n")[0]}`);
    } finally {
      logged.logger = previous;
    }
    const { wrapper, format } = chatFormat(mod, model);
    const contextSize = opts.contextSize ?? Math.min(model.trainContextSize, 8192);
    let context: ContextLike;
    try {
      context = await model.createContext({ contextSize, sequences: 1, threads: opts.threads ?? 1 });
    } catch (e) {
      await model.dispose();
      throw new ConfigError(`--judge-model ${path}: cannot make a context of ${contextSize} tokens: ${(e as Error).message.split("\n")[0]}`);
    }
    const sequence = context.getSequence();
    const chat = new mod.LlamaChat({ contextSequence: sequence, chatWrapper: wrapper, autoDisposeSequence: false });
    return new GgufJudge(path, model, context, sequence, chat, wrapper, format);
  }

  get contextSize(): number {
    return this.context.contextSize;
  }

  /** The prompt text the model is given for `messages` (special tokens spelled out). */
  formatPrompt(messages: readonly ChatMessage[]): string {
    return this.contextText(messages).toString();
  }

  private contextText(messages: readonly ChatMessage[]): LlamaTextLike {
    return this.wrapper.generateContextState({ chatHistory: historyOf(messages) }).contextText;
  }

  complete(request: ChatRequest, sample: number): Promise<ChatAnswer> {
    const run = this.queue.then(() => this.generate(request, sample));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async generate(request: ChatRequest, sample: number): Promise<ChatAnswer> {
    const promptTokens = this.contextText(request.messages).tokenize(this.model.tokenizer).length;
    const room = this.context.contextSize - promptTokens;
    if (room < 1) throw new JudgeError(`judge model ${this.target}: the prompt takes ${promptTokens} tokens, its context holds ${this.context.contextSize}`, null, 1);
    await this.sequence.clearHistory();
    let completionTokens = 0;
    try {
      const { response } = await this.chat.generateResponse(historyOf(request.messages), {
        temperature: request.temperature,
        ...(request.temperature > 0 ? { seed: request.seed ?? sample } : {}),
        maxTokens: Math.min(request.max_tokens, room),
        repeatPenalty: false,
        onToken: (tokens: readonly number[]) => {
          completionTokens += tokens.length;
        },
      });
      return { content: response, usage: { promptTokens, completionTokens } };
    } catch (e) {
      throw new JudgeError(`judge model ${this.target}: generation failed: ${(e as Error).message.split("\n")[0]}`, null, 1);
    }
  }

  async close(): Promise<void> {
    await this.queue;
    this.chat.dispose({ disposeSequence: true });
    await this.context.dispose();
    await this.model.dispose();
  }
}

/**
 * The chat wrapper for a model: from its template when it has one that node-llama-cpp can use
 * (a built-in wrapper equivalent to it, else the Jinja template), else the General format.
 */
function chatFormat(mod: NodeLlamaCppChat, model: ModelLike): { wrapper: ChatWrapperLike; format: string } {
  const template = model.fileInfo.metadata.tokenizer?.chat_template;
  if (typeof template !== "string" || template.trim() === "") {
    const wrapper = new mod.GeneralChatWrapper();
    return { wrapper, format: `${wrapper.wrapperName} (the model has no chat template)` };
  }
  try {
    // No silent fallback to a format guessed from the model's name: a template that cannot be
    // rendered is said so, and the documented General format is used.
    const wrapper = mod.resolveChatWrapper(model, { fallbackToOtherWrappersOnJinjaError: false, warningLogs: false });
    return { wrapper, format: `${wrapper.wrapperName} (from the model's chat template)` };
  } catch (e) {
    const wrapper = new mod.GeneralChatWrapper();
    return { wrapper, format: `${wrapper.wrapperName} (the model's chat template cannot be used: ${(e as Error).message.split("\n")[0]})` };
  }
}

/** The chat messages as node-llama-cpp's chat history, ending with the model's turn to answer. */
function historyOf(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((m) => (m.role === "assistant" ? { type: "model", response: [m.content] } : { type: m.role, text: m.content }));
  history.push({ type: "model", response: [] });
  return history;
}
