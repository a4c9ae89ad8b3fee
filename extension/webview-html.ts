/**
 * The page of a Rewind webview (the Recording Timeline, the Value History panel): one bundled
 * script from dist/webview/ (by nonce), the shared stylesheet and the view's own from media/, and
 * a strict Content Security Policy: no inline code, no network.
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';

export interface WebviewPage {
  /** dist/webview/ and media/, the folders the webview may load from. */
  dist: vscode.Uri;
  media: vscode.Uri;
  /** Names in them: "timeline.js", "timeline.css". */
  script: string;
  style: string;
  title: string;
  /** The body's markup, without the script tag. */
  body: string;
  /** data: images too. */
  dataImages?: boolean;
}

export function webviewHtml(webview: vscode.Webview, page: WebviewPage): string {
  const nonce = randomBytes(16).toString('base64');
  const script = webview.asWebviewUri(vscode.Uri.joinPath(page.dist, page.script));
  const styles = ['webview-common.css', page.style].map((s) => webview.asWebviewUri(vscode.Uri.joinPath(page.media, s)));
  const csp = [
    `default-src 'none'`,
    ...(page.dataImages ? [`img-src ${webview.cspSource} data:`] : []),
    `style-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
    `font-src ${webview.cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
${styles.map((s) => `<link href="${s}" rel="stylesheet">`).join('\n')}
<title>${page.title}</title>
</head>
<body>
${page.body.trim()}
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
}
