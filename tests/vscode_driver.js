// Drives VS Code (code-server) in Debian's headless Chromium with playwright-core, for
// tests/test_vscode.py, which starts code-server with the torchlint extension installed and reads
// the JSON this script writes. Steps: open the workspace's train.py, wait for torchlint's findings in
// the Problems panel, apply the TL201 quick fix, save without the save participants (the quick fix
// alone reaches the disk), then save normally (editor.codeActionsOnSave runs source.fixAll.torchlint,
// which applies the safe TL007 fix), show the output channel, and point the extension at a Python
// without the `lsp` extra. Screenshots go to ARTIFACTS.
//
// Environment: PLAYWRIGHT (playwright-core's folder), CHROMIUM, URL, TARGET (train.py's path),
// ARTIFACTS (screenshots folder), RESULT (the JSON to write), NOLSP_PYTHON (a Python with torchlint
// but without pygls: the extension must say what to install).

"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require(process.env.PLAYWRIGHT);

const result = { steps: [], screenshots: [], console: [] };
const target = process.env.TARGET;
const artifacts = process.env.ARTIFACTS;
const modifier = "Control";
let page;

function step(name) {
  result.steps.push(name);
  console.log(`step: ${name}`);
}

async function shot(page, name) {
  const file = path.join(artifacts, `vscode-${name}.png`);
  await page.screenshot({ path: file });
  result.screenshots.push(file);
}

async function waitFor(what, predicate, timeout = 120000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await predicate();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function problems(page) {
  return page.evaluate(() => {
    // The bottom panel, showing the Problems view (its tree rows: one per file and finding).
    const panel = document.querySelector(".part.panel");
    if (!panel) {
      return null;
    }
    const rows = [...panel.querySelectorAll(".monaco-list-row")];
    return rows.map((row) => `${row.getAttribute("aria-label") || ""} ${row.textContent || ""}`);
  });
}

async function command(page, name) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible" });
  await input.fill(`>${name}`);
  const row = page.locator(".quick-input-widget .monaco-list-row", { hasText: name });
  await row.first().waitFor({ timeout: 30000 });
  await row.first().click();
  await page.waitForTimeout(300);
}

async function goTo(page, where) {
  await page.keyboard.press(`${modifier}+G`);
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible" });
  await input.fill(`:${where}`);
  await page.waitForTimeout(300);
  await page.keyboard.press("Enter");
  await page.waitForTimeout(300);
}

function disk() {
  return fs.readFileSync(target, "utf8");
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on("console", (message) => {
      if (message.type() === "error") {
        result.console.push(message.text().slice(0, 500));
      }
    });
    await page.goto(process.env.URL, { waitUntil: "domcontentloaded" });
    await page.locator(".monaco-workbench").waitFor({ timeout: 120000 });
    step("workbench");

    // Open train.py with Quick Open.
    await waitFor("the explorer to list train.py", async () =>
      page.evaluate(() => document.body.innerText.includes("train.py")),
    );
    await page.keyboard.press(`${modifier}+P`);
    const input = page.locator(".quick-input-widget input");
    await input.waitFor({ state: "visible" });
    await input.fill("train.py");
    const file = page.locator(".quick-input-widget .monaco-list-row", { hasText: "train.py" });
    await file.first().waitFor({ timeout: 30000 });
    await file.first().click();
    await page.locator(".monaco-editor .view-lines").first().waitFor();
    step("opened");

    // torchlint's findings in the Problems panel.
    await page.keyboard.press(`${modifier}+Shift+M`);
    result.problems_before = await waitFor("TL201 and TL007 in the Problems panel", async () => {
      const rows = await problems(page);
      const text = (rows || []).join("\n");
      return text.includes("TL201") && text.includes("TL007") ? rows : null;
    }, 240000);
    step("diagnostics");
    await shot(page, "1-problems");

    // The quick fix for TL201 at `torch.load(path)` (line 5, column 27).
    await goTo(page, "5:32");
    await page.keyboard.press(`${modifier}+Period`);
    const fix = page.locator(".action-widget .monaco-list-row", { hasText: "weights_only=True" });
    await fix.first().waitFor({ timeout: 60000 });
    result.quick_fixes = await page.locator(".action-widget .monaco-list-row").allTextContents();
    await shot(page, "2-quick-fix-menu");
    await fix.first().click();
    step("quick fix applied");
    await waitFor("TL201 to leave the Problems panel", async () => {
      const text = ((await problems(page)) || []).join("\n");
      return !text.includes("TL201") && text.includes("TL007");
    });

    // Save without the save participants: only the quick fix reaches the disk.
    await command(page, "File: Save without Formatting");
    result.disk_after_quick_fix = await waitFor("the quick fix on disk", async () => {
      const text = disk();
      return text.includes("weights_only=True") ? text : null;
    });
    step("saved without fix-on-save");
    await shot(page, "3-after-quick-fix");

    // The Fix All command fixes TL007 in the editor (unsaved); undo it for the save below.
    await command(page, "torchlint: Fix All Auto-fixable Problems in This File");
    await waitFor("Fix All to clear the Problems panel", async () => {
      const rows = await problems(page);
      return rows && !rows.join("\n").includes("TL007");
    });
    result.fix_all_on_disk = disk().includes("loss.detach()");
    step("fix all command");
    await page.locator(".monaco-editor .view-lines").first().click();
    await page.keyboard.press(`${modifier}+Z`);
    await waitFor("TL007 back after undo", async () => {
      return ((await problems(page)) || []).join("\n").includes("TL007");
    });
    step("undone");

    // An edit, then a normal save: editor.codeActionsOnSave runs source.fixAll.torchlint.
    await goTo(page, "1");
    await page.keyboard.press("End");
    await page.keyboard.type("  # saved with fix-on-save");
    await page.keyboard.press(`${modifier}+S`);
    result.disk_after_save = await waitFor("the fix-on-save result on disk", async () => {
      const text = disk();
      return text.includes("fix-on-save") ? text : null;
    });
    step("saved with fix-on-save");
    result.problems_after = await waitFor("an empty Problems panel", async () => {
      const rows = await problems(page);
      return rows && !rows.join("\n").includes("TL0") ? rows : null;
    });
    await shot(page, "4-fixed-on-save");

    // The output channel, with the server's lint timings (torchlint.logLevel "debug").
    await command(page, "torchlint: Show Output");
    result.output = await waitFor("the torchlint output channel", async () => {
      const text = await page.evaluate(() =>
        (document.querySelector(".part.panel")?.innerText ?? "").replace(/\u00a0/g, " "),
      );
      return text.includes("findings; engine") ? text : null;
    });
    step("output");

    // An interpreter with torchlint but without its `lsp` extra: the settings change restarts the
    // server, and a notification gives the install command for that interpreter.
    const settings = path.join(path.dirname(target), ".vscode", "settings.json");
    const values = JSON.parse(fs.readFileSync(settings, "utf8"));
    values["torchlint.interpreter"] = [process.env.NOLSP_PYTHON];
    fs.writeFileSync(settings, JSON.stringify(values));
    result.notification = await waitFor("the missing-extra notification", async () => {
      const text = await page.evaluate(
        () => document.querySelector(".notifications-toasts")?.innerText ?? "",
      );
      return text.includes("pip install") ? text : null;
    });
    await page.waitForTimeout(1000); // the toast slides in
    await shot(page, "5-missing-lsp-extra");
    step("done");
  } catch (error) {
    result.error = String(error && error.stack ? error.stack : error);
    console.error(result.error);
    if (page) {
      await shot(page, "failure").catch(() => undefined);
    }
  } finally {
    await browser.close();
  }
}

main()
  .catch(async (error) => {
    result.error = String(error && error.stack ? error.stack : error);
    console.error(result.error);
  })
  .finally(() => {
    fs.writeFileSync(process.env.RESULT, JSON.stringify(result, null, 2));
  });
