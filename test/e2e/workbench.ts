/**
 * Driving VS Code's workbench (code-server in Chromium) the way a person does: the command
 * palette, quick picks, the debug toolbar, the Call Stack / Variables / Watch views, the status
 * bar, the Recording Timeline webview. Reads what is on screen as text for assertions and saves
 * a numbered screenshot per step.
 */
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { FrameLocator, Locator, Page } from 'playwright-core';

export class Workbench {
  private step = 0;

  constructor(readonly page: Page, private readonly artifacts: string) {
    mkdirSync(artifacts, { recursive: true });
  }

  /** Saves test-artifacts/e2e/NN-name.png; returns its path. */
  async screenshot(name: string): Promise<string> {
    const path = join(this.artifacts, `${String(++this.step).padStart(2, '0')}-${name}.png`);
    await this.page.screenshot({ path });
    return path;
  }

  /**
   * Polls `probe` until `ok` holds; fails with the last value seen. The default allows for a
   * loaded 2-core CI machine: steps take 1-10 s here.
   */
  async waitFor<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
    const until = Date.now() + timeoutMs;
    let last: T | undefined;
    let error: unknown;
    for (;;) {
      try {
        last = await probe();
        error = undefined;
        if (ok(last)) return last;
      } catch (e) {
        error = e;
      }
      if (Date.now() > until) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${error ? String(error) : JSON.stringify(last)}`);
      }
      await this.page.waitForTimeout(250);
    }
  }

  async waitForWorkbench(): Promise<void> {
    await this.page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    await this.page.locator('.statusbar').waitFor({ timeout: 60_000 });
  }

  // ---- quick input ---------------------------------------------------------------------------
  private quickInput(): Locator {
    return this.page.locator('.quick-input-widget');
  }

  async quickInputOpen(): Promise<boolean> {
    return this.quickInput().isVisible();
  }

  /** Types into the open quick input (replacing its text), key by key as a person does (quick access reacts to typing). */
  async typeInQuickInput(text: string): Promise<void> {
    const input = this.quickInput().locator('input').first();
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill('', { timeout: 10_000 });
    await input.pressSequentially(text, { delay: 15, timeout: 20_000 });
  }

  /** The labels of the quick pick's rows now shown. */
  async quickPickRows(): Promise<string[]> {
    return this.quickInput().locator('.monaco-list-row').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).innerText.replace(/\s+/g, ' ').trim()));
  }

  /** Waits for a row containing `text` and picks it. */
  async pickQuickItem(text: string | RegExp, timeoutMs = 20_000): Promise<void> {
    const rows = this.quickInput().locator('.monaco-list-row');
    const row = rows.filter({ hasText: text }).first();
    await this.waitFor(`a quick pick row ${String(text)}`, () => this.quickPickRows(), (r) => r.some((x) => (typeof text === 'string' ? x.includes(text) : text.test(x))), timeoutMs);
    await row.click();
  }

  /**
   * Runs a command from the palette by its title. Right after the window loads the palette may
   * not list every command yet, and a view that takes the focus closes it: try again.
   */
  async runCommand(title: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.page.keyboard.press('F1');
        await this.typeInQuickInput(`>${title}`);
        await this.pickQuickItem(title, 8_000);
        return;
      } catch (e) {
        await this.page.keyboard.press('Escape');
        if (attempt === 4) throw e;
      }
    }
  }

  /** Quick Open (Ctrl+P) with a prefix, e.g. "debug Replay a recording". */
  async quickOpen(text: string): Promise<void> {
    await this.page.keyboard.press('Control+P');
    await this.typeInQuickInput(text);
  }

  /**
   * Opens a file with Quick Open by its absolute path (no dependence on the workspace's file
   * search, which can lag on a loaded machine and ignores "name:line"), then goes to the line
   * with Go to Line; returns when the cursor is there.
   */
  async openFile(path: string, line?: number): Promise<void> {
    const name = basename(path);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.quickOpen(path);
        await this.pickQuickItem(name, 15_000);
        break;
      } catch (e) {
        await this.page.keyboard.press('Escape');
        if (attempt === 4) throw e;
      }
    }
    await this.page.locator(`.tabs-container .tab[aria-label*="${name}"]`).first().waitFor({ timeout: 10_000 });
    if (!line) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.page.keyboard.press('Control+G');
        await this.typeInQuickInput(`:${line}`);
        await this.page.keyboard.press('Enter');
        // The editor is ready for keys (F9) once its cursor is on the line.
        await this.waitFor(`the cursor on ${name}:${line}`, () => this.statusBarItem('Ln '), (t) => t?.startsWith(`Ln ${line},`) === true, 10_000);
        return;
      } catch (e) {
        await this.page.keyboard.press('Escape');
        if (attempt === 3) throw e;
      }
    }
  }

  // ---- debug views ---------------------------------------------------------------------------
  private async rowsOf(selector: string): Promise<string[]> {
    return this.page.locator(`${selector} .monaco-list-row`).evaluateAll((rows) => rows.map((r) => (r as HTMLElement).innerText.replace(/\s+/g, ' ').trim()).filter((t) => t !== ''));
  }

  /** Call Stack rows as text: "panic panic.c 37:1", ... */
  callStack(): Promise<string[]> {
    return this.rowsOf('.debug-call-stack');
  }

  /** Variables rows as text: "i: 29", "Locals", ... */
  variables(): Promise<string[]> {
    return this.rowsOf('.debug-variables');
  }

  watch(): Promise<string[]> {
    return this.rowsOf('.debug-watch');
  }

  /** The debug toolbar's buttons, by aria-label (none when it is hidden: no session). */
  async toolbarButtons(): Promise<string[]> {
    if (!(await this.page.locator('.debug-toolbar').first().isVisible())) return [];
    return this.page.locator('.debug-toolbar .action-label').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? '').filter((l) => l !== ''));
  }

  /** Clicks a debug toolbar button by its label without the key binding ("Reverse" is not "Reverse Step Into"). */
  async clickToolbar(label: string): Promise<void> {
    await this.page.locator(`.debug-toolbar .action-label[aria-label="${label}"], .debug-toolbar .action-label[aria-label^="${label} ("]`).first().click();
  }

  /** Opens Run and Debug in the side bar and waits until it shows. */
  async openRunAndDebug(): Promise<void> {
    await this.page.keyboard.press('Control+Shift+D');
    await this.page.locator('.part.sidebar .title-label', { hasText: /run and debug/i }).first().waitFor({ timeout: 30_000 });
  }

  /** Starts a launch configuration by name, as Run and Debug's "Select and Start Debugging" does. */
  async startDebugging(name: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.runCommand('Debug: Select and Start Debugging');
        await this.quickInput().locator('input').first().pressSequentially(name, { delay: 15, timeout: 20_000 });
        await this.pickQuickItem(name);
        return;
      } catch (e) {
        await this.page.keyboard.press('Escape');
        if (attempt === 3) throw e;
      }
    }
  }

  /** The status bar entry whose accessible label starts with `prefix`. */
  async statusBarItem(prefix: string): Promise<string | undefined> {
    const items = await this.page.locator('.statusbar-item').evaluateAll((els) =>
      els.map((e) => ({ label: e.getAttribute('aria-label') ?? (e.firstElementChild?.getAttribute('aria-label') ?? ''), text: (e as HTMLElement).innerText.trim() })),
    );
    return items.find((i) => i.label.startsWith(prefix))?.text;
  }

  /** Clicks the status bar entry whose accessible label starts with `prefix`. */
  async clickStatusBarItem(prefix: string): Promise<void> {
    await this.page.locator(`.statusbar-item[aria-label^="${prefix}"], .statusbar-item:has(> [aria-label^="${prefix}"])`).first().click();
  }

  /** Clicks a button of the notification toast whose message contains `message`. */
  async clickNotificationButton(message: string, button: string): Promise<void> {
    await this.page.locator('.notification-list-item', { hasText: message }).first().locator('.monaco-button', { hasText: button }).first().click();
  }

  /** The full text of the notification toast whose message contains `message` (progress included). */
  async notificationText(message: string): Promise<string> {
    const item = this.page.locator('.notification-list-item', { hasText: message }).first();
    return (await item.count()) > 0 ? (await item.innerText()).replace(/\s+/g, ' ').trim() : '';
  }

  /** The open quick pick's title. */
  async quickInputTitle(): Promise<string> {
    return this.quickInput().locator('.quick-input-title').innerText();
  }

  /** In a multi-select quick pick, checks exactly the rows `want` accepts, then OK. */
  async checkQuickPickRows(want: (row: string) => boolean): Promise<void> {
    const rows = this.quickInput().locator('.monaco-list-row');
    await this.waitFor(
      'the quick pick\'s check boxes',
      async () => {
        for (const r of await rows.all()) {
          const text = (await r.innerText()).replace(/\s+/g, ' ').trim();
          if (((await r.getAttribute('aria-checked')) === 'true') !== want(text)) await r.locator('.monaco-checkbox').click();
        }
        return rows.evaluateAll((rs) => rs.map((r) => ({ text: (r as HTMLElement).innerText.replace(/\s+/g, ' ').trim(), checked: r.getAttribute('aria-checked') === 'true' })));
      },
      (state) => state.length > 0 && state.every((r) => r.checked === want(r.text)),
      20_000,
    );
    await this.quickInput().locator('.monaco-button', { hasText: 'OK' }).click();
  }

  /** Notification toasts' messages. */
  async notifications(): Promise<string[]> {
    return this.page.locator('.notification-list-item-message').evaluateAll((els) => els.map((e) => (e as HTMLElement).innerText.trim()));
  }

  /** The inner frame of a webview view (VS Code nests it: iframe.webview > iframe#active-frame). */
  webview(title: string): FrameLocator {
    return this.page.frameLocator(`iframe.webview[title="${title}"], iframe.webview.ready`).first().frameLocator('iframe#active-frame');
  }

  /** Picks an entry of the open context menu (it may still be laying out: if it stays open, click again). */
  async pickMenuItem(label: string): Promise<void> {
    const item = this.page.locator('.monaco-menu .action-item', { hasText: label }).first();
    await item.waitFor({ state: 'visible', timeout: 10_000 });
    for (let attempt = 1; ; attempt++) {
      await item.hover();
      await item.click();
      try {
        await item.waitFor({ state: 'hidden', timeout: 3_000 });
        return;
      } catch (e) {
        if (attempt === 5) throw e;
      }
    }
  }

  // ---- side bar views ------------------------------------------------------------------------
  /** A view of the side bar (header and body) by its title. */
  pane(title: string): Locator {
    return this.page.locator('.pane', { has: this.page.locator(`.pane-header[aria-label^="${title}"]`) }).first();
  }

  /** The accessible labels of a tree view's rows now rendered (label and description). */
  async treeRows(title: string): Promise<string[]> {
    return this.pane(title).locator('.monaco-list-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('aria-label') ?? (r as HTMLElement).innerText.trim()));
  }

  /**
   * Clicks the first row of a tree view whose accessible label `want` accepts and that is wholly
   * in sight (a row half under the view's header would not take the click); returns its label.
   */
  async clickTreeRow(title: string, want: (label: string) => boolean): Promise<string> {
    // The view may still be laying out (just expanded, or scrolling to reveal a row): look again until one fits.
    const row = await this.waitFor(
      `a row of ${title} in sight`,
      async () => {
        const body = await this.pane(title).locator('.pane-body').boundingBox();
        for (const r of await this.pane(title).locator('.monaco-list-row').all()) {
          const label = (await r.getAttribute('aria-label')) ?? '';
          if (!want(label)) continue;
          const box = await r.boundingBox();
          if (body && box && box.height > 0 && box.y >= body.y && box.y + box.height <= body.y + body.height) return { r, label };
        }
        return undefined;
      },
      (x) => x !== undefined,
      15_000,
    );
    await row!.r.click();
    return row!.label;
  }

  /** Clicks a button of a view's title bar (it shows on hover). */
  async clickViewAction(title: string, action: string): Promise<void> {
    const header = this.page.locator(`.pane-header[aria-label^="${title}"]`).first();
    await header.hover();
    await header.locator(`.action-label[aria-label^="${action}"]`).click();
  }

  /** Expands a view of the sidebar by its title, if it is collapsed. */
  async expandView(title: string): Promise<void> {
    const header = this.page.locator(`.pane-header[aria-label^="${title}"]`).first();
    await header.waitFor({ timeout: 20_000 });
    if ((await header.getAttribute('aria-expanded')) === 'false') await header.click();
  }

  /** Drags the side bar's edge so that it is `width` pixels wide (the timeline likes room). */
  async resizeSideBar(width: number): Promise<void> {
    const box = await this.page.locator('.part.sidebar').first().boundingBox();
    if (!box) throw new Error('no side bar');
    const y = box.y + box.height / 2;
    await this.page.mouse.move(box.x + box.width + 1, y);
    await this.page.mouse.down();
    await this.page.mouse.move(box.x + width + 1, y, { steps: 8 });
    await this.page.mouse.up();
  }

  /** Makes a side bar view taller by dragging the sash above its header up by `dy` pixels. */
  async growView(title: string, dy: number): Promise<void> {
    const header = await this.page.locator(`.pane-header[aria-label^="${title}"]`).first().boundingBox();
    if (!header) throw new Error(`no view ${title}`);
    // The sash sits on the header's top edge; grabbing the header itself would drag the view elsewhere.
    const x = header.x + header.width / 2;
    const y = header.y - 1;
    await this.page.mouse.move(x, y);
    await this.page.mouse.down();
    await this.page.mouse.move(x, y - dy, { steps: 10 });
    await this.page.mouse.up();
  }

  /** Expands a scope or variable row of the Variables view (VS Code expands only the first scope by itself). */
  async expandVariable(name: string): Promise<void> {
    const row = this.page.locator('.debug-variables .monaco-list-row').filter({ hasText: new RegExp(`^\\s*${name}\\s*$`) }).first();
    await row.waitFor({ timeout: 10_000 });
    if ((await row.getAttribute('aria-expanded')) === 'false') await row.click();
  }

  /**
   * The Variables rows with the scope `scope` expanded: for waitFor, which calls it again until the
   * rows are right (after a stop VS Code rebuilds the view, and a scope expanded a moment too early
   * may come back folded).
   */
  async variablesIn(scope: string): Promise<string[]> {
    const rows = await this.variables();
    if (rows.includes(scope)) {
      const row = this.page.locator('.debug-variables .monaco-list-row').filter({ hasText: new RegExp(`^\\s*${scope}\\s*$`) }).first();
      if ((await row.getAttribute('aria-expanded').catch(() => null)) === 'false') await row.click({ timeout: 5_000 }).catch(() => undefined);
    }
    return rows;
  }

  /** Adds a watch expression with the Watch view's "Add Expression" button. */
  /**
   * Adds a watch expression. The Watch view's input box commits what it holds when it loses the
   * focus, and typing key by key is slow on a loaded machine: CI once committed only the first
   * letter ("c = -var-create: unable to create variable object"). So wait for the box, fill it at
   * once, check what it holds, and press Enter in it. Callers let the debug views settle after a
   * stop first (their refresh can take the focus).
   */
  async addWatch(expression: string): Promise<void> {
    const header = this.page.locator('.pane-header[aria-label^="Watch"]').first();
    await header.hover();
    await header.locator('.action-label[aria-label="Add Expression"]').click();
    const input = this.page.locator('.debug-watch .monaco-inputbox input').first();
    await input.waitFor({ state: 'visible', timeout: 20_000 });
    await input.fill(expression, { timeout: 20_000 });
    const typed = await input.inputValue();
    if (typed !== expression) throw new Error(`the Watch view's input box holds "${typed}", not "${expression}"`);
    await input.press('Enter');
  }

  async collapseView(title: string): Promise<void> {
    const header = this.page.locator(`.pane-header[aria-label^="${title}"]`).first();
    if ((await header.count()) === 0) return;
    if ((await header.getAttribute('aria-expanded')) === 'true') await header.click();
  }
}
