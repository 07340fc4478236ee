// torchlint for VS Code: starts `torchlint lsp` with vscode-languageclient.
//
// Finding the server (first that applies):
//   1. `torchlint.path`: a torchlint executable, started as `<path> lsp`;
//   2. `torchlint.interpreter`: a Python, started as `<python> -m torchlint lsp`;
//   3. the Python extension's selected interpreter, when torchlint (with its `lsp` extra) is
//      installed in it;
//   4. `torchlint` on PATH.
// When none has torchlint, or it lacks the `lsp` extra (pygls), a notification says what to install.

import { ChildProcess, execFile, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as vscode from "vscode";
import {
  CodeActionKind,
  CodeActionRequest,
  LanguageClient,
  LanguageClientOptions,
  LogMessageNotification,
  RevealOutputChannelOn,
  ServerOptions,
  State,
} from "vscode-languageclient/node";

const NAME = "torchlint";
const FIX_ALL_KIND = "source.fixAll.torchlint";
const INSTALL = "pip install 'torchlint[lsp]'";
// window/logMessage types: Error 1, Warning 2, Info 3, Log 4, Debug 5.
const LEVELS: Record<string, number> = { error: 1, warning: 2, info: 4, debug: 5 };

let client: LanguageClient | undefined;
let output: vscode.OutputChannel;
let starting: Promise<void> = Promise.resolve();

/** How to start the server, and where that came from (for the output channel and messages). */
interface Launch {
  command: string;
  args: string[];
  source: string;
  python?: string; // the interpreter, when known: the install command uses it
}

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(NAME);
}

function log(message: string): void {
  output.appendLine(`[${new Date().toISOString()}] ${message}`);
}

function expand(value: string): string {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? "";
  let out = value.replace(/\$\{workspaceFolder\}/g, folder).replace(/\$\{userHome\}/g, os.homedir());
  if (out === "~" || out.startsWith("~/")) {
    out = path.join(os.homedir(), out.slice(1));
  }
  return out;
}

function run(command: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 30000 }, (error, _stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ code, stderr: String(stderr) });
    });
  });
}

/** 0: torchlint and its lsp extra are importable; 1: no torchlint; 2: no pygls/lsprotocol. */
async function probe(python: string): Promise<number> {
  const script =
    "import importlib.util as u, sys\n" +
    "sys.exit(1 if u.find_spec('torchlint') is None else " +
    "2 if u.find_spec('pygls') is None or u.find_spec('lsprotocol') is None else 0)";
  const result = await run(python, ["-c", script]);
  return result.code === 0 || result.code === 2 ? result.code : 1;
}

/** The interpreter the Python extension has selected for `resource`, if it is installed. */
async function pythonExtensionInterpreter(resource?: vscode.Uri): Promise<string | undefined> {
  const extension = vscode.extensions.getExtension("ms-python.python");
  if (!extension) {
    return undefined;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const api: any = extension.isActive ? extension.exports : await extension.activate();
    const environments = api?.environments;
    if (environments?.getActiveEnvironmentPath) {
      const active = environments.getActiveEnvironmentPath(resource);
      const resolved = await environments.resolveEnvironment(active);
      const executable = resolved?.executable?.uri?.fsPath ?? active?.path;
      if (executable) {
        return executable;
      }
    }
    // Older versions of the Python extension.
    const details = api?.settings?.getExecutionDetails?.(resource);
    return details?.execCommand?.[0];
  } catch (error) {
    log(`cannot ask the Python extension for its interpreter: ${error}`);
    return undefined;
  }
}

function onPath(name: string): string | undefined {
  const names = process.platform === "win32" ? [`${name}.exe`, `${name}.cmd`, name] : [name];
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    for (const candidate of names) {
      const full = path.join(dir, candidate);
      try {
        fs.accessSync(full, fs.constants.X_OK);
        if (fs.statSync(full).isFile()) {
          return full;
        }
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/** Where to start the server from, or undefined after telling the user what is missing. */
async function findServer(): Promise<Launch | undefined> {
  const settings = config();
  for (const candidate of settings.get<string[]>("path", []).map(expand)) {
    if (fs.existsSync(candidate)) {
      return { command: candidate, args: ["lsp"], source: "torchlint.path" };
    }
    log(`torchlint.path: ${candidate} does not exist`);
  }
  const tried: string[] = [];
  const interpreters = settings.get<string[]>("interpreter", []).map(expand);
  const candidates: [string, string][] = interpreters.length
    ? interpreters.slice(0, 1).map((p) => [p, "torchlint.interpreter"])
    : [];
  if (!interpreters.length) {
    const selected = await pythonExtensionInterpreter(vscode.window.activeTextEditor?.document.uri);
    if (selected) {
      candidates.push([selected, "the Python extension's interpreter"]);
    }
  }
  let lacksExtra: string | undefined;
  for (const [python, source] of candidates) {
    const status = await probe(python);
    log(`${source}: ${python}: ${["torchlint found", "no torchlint", "no lsp extra"][status]}`);
    if (status === 0) {
      return { command: python, args: ["-m", "torchlint", "lsp"], source, python };
    }
    if (status === 2) {
      lacksExtra = python;
    }
    tried.push(python);
    if (source === "torchlint.interpreter") {
      // An interpreter named in the settings is the one to use: say what it lacks.
      missing(python, status === 2);
      return undefined;
    }
  }
  const executable = onPath("torchlint");
  if (executable) {
    return { command: executable, args: ["lsp"], source: "PATH" };
  }
  missing(lacksExtra ?? candidates[0]?.[0], lacksExtra !== undefined);
  return undefined;
}

/** The Python a `torchlint` console script runs with (its `#!` line), if it says. */
function shebangPython(script: string): string | undefined {
  try {
    const head = fs.readFileSync(script, { encoding: "utf8", flag: "r" }).slice(0, 512);
    const match = /^#!\s*(\S*python[\w.]*)\s*$/m.exec(head.split("\n")[0]);
    return match && path.isAbsolute(match[1]) ? match[1] : undefined;
  } catch {
    return undefined;
  }
}

const notified = new Set<string>();

/** The notification for a missing torchlint (or a torchlint without its `lsp` extra), once per
 * interpreter and problem (the client retries a server that exits at once). */
function missing(python: string | undefined, lacksExtra: boolean): void {
  const key = `${python ?? ""}\0${lacksExtra}`;
  if (notified.has(key)) {
    return;
  }
  notified.add(key);
  const command = python ? `"${python}" -m ${INSTALL}` : INSTALL;
  const what = lacksExtra
    ? `torchlint is installed${python ? ` in ${python}` : ""} without its \`lsp\` extra (pygls).`
    : `torchlint was not found${python ? ` in ${python}` : ""} nor on PATH.`;
  log(`${what} Install it with: ${command}`);
  const copy = "Copy Install Command";
  const settings = "Open Settings";
  void vscode.window
    .showErrorMessage(`${what} Install it with: ${command}`, copy, settings)
    .then((choice) => {
      if (choice === copy) {
        void vscode.env.clipboard.writeText(command);
      } else if (choice === settings) {
        void vscode.commands.executeCommand("workbench.action.openSettings", "torchlint");
      }
    });
}

/** `torchlint.args` (CLI flags) -> the server's options; unknown flags are logged and skipped. */
function optionsFromArgs(args: string[]): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  const lists: Record<string, string> = {
    "--select": "select",
    "--extend-select": "extendSelect",
    "--ignore": "ignore",
  };
  const flags: Record<string, [string, boolean]> = {
    "--preview": ["preview", true],
    "--no-preview": ["preview", false],
    "--unsafe-fixes": ["unsafeFixes", true],
    "--no-unsafe-fixes": ["unsafeFixes", false],
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const eq = arg.indexOf("=");
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    if (flag in lists) {
      const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined) {
        log(`torchlint.args: ${flag} needs a value`);
        continue;
      }
      const key = lists[flag];
      const values = value.split(",").map((v) => v.trim()).filter(Boolean);
      options[key] = [...((options[key] as string[] | undefined) ?? []), ...values];
    } else if (flag in flags && eq < 0) {
      const [key, value] = flags[flag];
      options[key] = value;
    } else {
      log(`torchlint.args: ${arg} is not a flag the language server takes; ignored`);
    }
  }
  return options;
}

/** The settings as the server reads them (initializationOptions and workspace/configuration). */
function serverOptions(): Record<string, unknown> {
  const settings = config();
  const options = optionsFromArgs(settings.get<string[]>("args", []));
  for (const key of ["select", "extendSelect", "ignore", "preview", "unsafeFixes"]) {
    const value = settings.get(key);
    if (value !== null && value !== undefined) {
      options[key] = value;
    }
  }
  if (settings.get<string>("logLevel") === "debug") {
    options.logTimings = true;
  }
  return options;
}

function logLevel(): number {
  return LEVELS[config().get<string>("logLevel", "info")] ?? LEVELS.info;
}

/** Spawn the server; when it exits at once saying pygls is missing, tell the user. */
function spawner(launch: Launch): ServerOptions {
  return () =>
    new Promise<ChildProcess>((resolve, reject) => {
      const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? os.homedir();
      const child = spawn(launch.command, launch.args, { cwd, env: process.env });
      let stderr = "";
      child.stderr?.on("data", (chunk: Buffer) => {
        const text = chunk.toString();
        stderr += text;
        output.append(text);
      });
      child.on("error", (error) => {
        log(`cannot start ${launch.command}: ${error.message}`);
        reject(error);
      });
      child.on("exit", (code) => {
        log(`server exited with code ${code}`);
        if (code === 2 && /needs (pygls|lsprotocol)/.test(stderr)) {
          missing(launch.python ?? shebangPython(launch.command), true);
        }
      });
      child.on("spawn", () => resolve(child));
    });
}

async function start(): Promise<void> {
  if (!config().get<boolean>("enable", true)) {
    log("torchlint.enable is false: the server is not started");
    return;
  }
  const launch = await findServer();
  if (!launch) {
    return;
  }
  log(`starting ${[launch.command, ...launch.args].join(" ")} (from ${launch.source})`);
  const clientOptions: LanguageClientOptions = {
    // Python files on disk and unsaved ones. Notebook cells are not linted yet: the server has no
    // notebook document support.
    documentSelector: [
      { scheme: "file", language: "python" },
      { scheme: "untitled", language: "python" },
    ],
    outputChannel: output,
    traceOutputChannel: output,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    initializationOptions: serverOptions(),
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher("**/{pyproject.toml,torchlint.toml}"),
    },
    middleware: {
      workspace: {
        // The server pulls the `torchlint` section: answer with the same options as at start.
        configuration: (params, token, next) => {
          if (params.items.some((item) => item.section === NAME)) {
            return params.items.map((item) => (item.section === NAME ? serverOptions() : null));
          }
          return next(params, token);
        },
      },
      provideCodeActions: async (document, range, context, token, next) => {
        const actions = await next(document, range, context, token);
        if (!actions || config().get<boolean>("fixAll", true)) {
          return actions;
        }
        return actions.filter(
          (action) =>
            !(action instanceof vscode.CodeAction) ||
            !action.kind ||
            !vscode.CodeActionKind.SourceFixAll.append(NAME).contains(action.kind),
        );
      },
    },
  };
  const next = new LanguageClient(NAME, "torchlint", spawner(launch), clientOptions);
  next.onNotification(LogMessageNotification.type, (params) => {
    if (params.type <= logLevel()) {
      const kind = ["", "error", "warning", "info", "log", "debug"][params.type] ?? "info";
      log(`[server ${kind}] ${params.message}`);
    }
  });
  client = next;
  try {
    await next.start();
    log("server started");
  } catch (error) {
    log(`the server did not start: ${error}`);
    void vscode.window
      .showErrorMessage(`torchlint: the language server did not start: ${error}`, "Show Output")
      .then((choice) => choice && output.show());
  }
}

async function stop(): Promise<void> {
  const current = client;
  client = undefined;
  if (current && current.state !== State.Stopped) {
    try {
      await current.stop();
    } catch (error) {
      log(`stopping the server: ${error}`);
    }
  }
}

function restart(): Promise<void> {
  notified.clear();
  starting = starting.then(async () => {
    await stop();
    await start();
  });
  return starting;
}

/** Ask the server for `source.fixAll.torchlint` on the active file and apply it. */
async function fixAll(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== "python") {
    void vscode.window.showInformationMessage("torchlint: open a Python file to fix.");
    return;
  }
  await starting;
  if (!client || client.state !== State.Running) {
    void vscode.window.showWarningMessage("torchlint: the language server is not running.");
    return;
  }
  const document = editor.document;
  const converter = client.code2ProtocolConverter;
  const end = document.lineAt(document.lineCount - 1).range.end;
  const result = await client.sendRequest(CodeActionRequest.type, {
    textDocument: converter.asTextDocumentIdentifier(document),
    range: converter.asRange(new vscode.Range(new vscode.Position(0, 0), end)),
    context: { diagnostics: [], only: [FIX_ALL_KIND as CodeActionKind] },
  });
  for (const item of result ?? []) {
    if ("edit" in item && item.edit) {
      const edit = await client.protocol2CodeConverter.asWorkspaceEdit(item.edit);
      await vscode.workspace.applyEdit(edit);
      return;
    }
  }
  void vscode.window.showInformationMessage("torchlint: nothing to fix in this file.");
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("torchlint");
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand("torchlint.restart", () => restart()),
    vscode.commands.registerCommand("torchlint.showOutput", () => output.show()),
    vscode.commands.registerCommand("torchlint.fixAll", () => fixAll()),
    vscode.workspace.onDidChangeConfiguration((event) => {
      // Every setting is read when the server starts: start it again with the new ones.
      if (event.affectsConfiguration(NAME)) {
        void restart();
      }
    }),
  );
  const python = vscode.extensions.getExtension("ms-python.python");
  const api = python?.isActive ? python.exports : undefined;
  const onChange = api?.environments?.onDidChangeActiveEnvironmentPath;
  if (typeof onChange === "function") {
    context.subscriptions.push(onChange(() => void restart()));
  }
  await restart();
}

export function deactivate(): Promise<void> {
  return stop();
}
