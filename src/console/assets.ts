/** The console's only stylesheet and script, inlined into every page under the response's CSP nonce. */

export const CONSOLE_CSS = `
:root{--fg:#1d232b;--muted:#64707d;--line:#d9dee4;--bg:#f6f7f9;--card:#fff;--accent:#2458c6;
--ok:#1f7a3f;--ok-bg:#e3f4e8;--bad:#b42323;--bad-bg:#fbe5e5;--busy:#8a5a00;--busy-bg:#fdf1d6;
--wait:#1d5fa8;--wait-bg:#e1edfb;--muted-bg:#eceef1;--info:#3d4b8f;--info-bg:#e8eafa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
header{display:flex;align-items:center;gap:18px;padding:0 20px;height:48px;background:#18212d;color:#fff}
header .brand{font-weight:650;letter-spacing:.2px;color:#fff}
header nav{display:flex;gap:4px;flex:1}
header nav a{color:#c9d3df;padding:6px 10px;border-radius:6px}
header nav a.active,header nav a:hover{background:#2b3747;color:#fff;text-decoration:none}
header form{margin:0}
header button{background:none;border:1px solid #4a5768;color:#c9d3df}
main{padding:18px 20px 40px;max-width:1400px}
h1{font-size:20px;margin:0 0 12px}h1.mono{font-size:17px;font-weight:600}h2{font-size:16px;margin:22px 0 8px}h3{font-size:14px;margin:14px 0 6px}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line)}
th,td{text-align:left;padding:6px 9px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.3px;background:#fafbfc}
td.num,th.num{text-align:right}
code,pre,.mono{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#0f1720;color:#dbe4ee;padding:12px;border-radius:6px;overflow:auto;max-height:480px;margin:6px 0}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px;margin:10px 0}
.row{display:flex;gap:10px;align-items:center;flex-wrap:wrap}
.spread{justify-content:space-between}
.muted{color:var(--muted)}.small{font-size:12px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap;
background:var(--muted-bg);color:var(--muted)}
.tone-ok{background:var(--ok-bg);color:var(--ok)}.tone-bad{background:var(--bad-bg);color:var(--bad)}
.tone-busy{background:var(--busy-bg);color:var(--busy)}.tone-wait{background:var(--wait-bg);color:var(--wait)}
.tone-info{background:var(--info-bg);color:var(--info)}
form.filters{display:flex;gap:8px;align-items:flex-end;flex-wrap:wrap;margin:0 0 12px}
label{display:flex;flex-direction:column;gap:2px;font-size:12px;color:var(--muted)}
form.preview textarea{font:12px/1.45 ui-monospace,monospace;width:100%;box-sizing:border-box;margin-bottom:8px}
input,select,textarea{font:inherit;padding:5px 7px;border:1px solid var(--line);border-radius:5px;background:#fff;color:var(--fg)}
button{font:inherit;padding:5px 12px;border-radius:5px;border:1px solid var(--line);background:#fff;cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
button.danger{color:var(--bad);border-color:#e7b3b3}
button:disabled{opacity:.6;cursor:progress}
form.inline{display:inline-flex;gap:6px;margin:0}
.flash{padding:9px 12px;border-radius:6px;margin:0 0 12px;border:1px solid}
.flash.ok{background:var(--ok-bg);border-color:#b5dfc2;color:var(--ok)}
.flash.error{background:var(--bad-bg);border-color:#efbcbc;color:var(--bad)}
.flash.info{background:var(--wait-bg);border-color:#bcd3ef;color:var(--wait)}
.live{font-size:12px;color:var(--muted);margin:0 0 8px}
label.toggle{flex-direction:row;align-items:center;gap:4px}
.spinner{display:inline-block;width:12px;height:12px;border:2px solid var(--line);border-top-color:var(--accent);
border-radius:50%;animation:spin .8s linear infinite;vertical-align:-2px;margin-right:6px}
@keyframes spin{to{transform:rotate(360deg)}}
.busy[hidden]{display:none}
.graph{overflow:auto;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:6px}
.graph svg text{font:12px system-ui,sans-serif;fill:var(--fg)}
.graph .sub{fill:var(--muted);font-size:11px}
.graph .edge{fill:none;stroke:#8a96a3;stroke-width:1.4}
.graph .edge.back{stroke-dasharray:5 4}
.graph .elabel{fill:var(--muted);font-size:10.5px}
.graph rect{stroke-width:1.5}
.graph .n-ok rect{fill:var(--ok-bg);stroke:var(--ok)}.graph .n-bad rect{fill:var(--bad-bg);stroke:var(--bad)}
.graph .n-busy rect{fill:var(--busy-bg);stroke:var(--busy)}.graph .n-wait rect{fill:var(--wait-bg);stroke:var(--wait)}
.graph .n-muted rect{fill:var(--muted-bg);stroke:#a3adb8}.graph .n-info rect{fill:var(--info-bg);stroke:var(--info)}
.graph .n-neutral rect{fill:#fff;stroke:#a3adb8}
.login{max-width:380px;margin:80px auto}
.login input{width:100%}
details>summary{cursor:pointer;color:var(--accent)}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0}
`;

/**
 * Progressive enhancement only; every page and form works without it.
 * - `[data-live]` regions re-fetch their own HTML (header `x-console-fragment`) every `data-live` ms
 *   while the "live" box is ticked, the tab is visible and no form field in the region is being edited;
 *   the server answers `x-console-live: stop` once nothing can change any more.
 * - `form[data-confirm]` asks first; `form[data-busy]` shows a spinner and disables its buttons
 *   while the request runs.
 */
export const CONSOLE_JS = `
(() => {
  const toggle = document.getElementById("live-toggle");
  const status = document.getElementById("live-status");
  const say = (text) => { if (status) status.textContent = text; };
  for (const region of document.querySelectorAll("[data-live]")) {
    const every = Math.max(1000, Number(region.dataset.live) || 3000);
    let running = false;
    const timer = setInterval(async () => {
      if (running || document.hidden || (toggle && !toggle.checked)) return;
      // Never swap out a form the operator is typing into.
      const active = document.activeElement;
      if (active && region.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) return;
      for (const input of region.querySelectorAll("input:not([type=hidden]), textarea")) {
        if (input.value !== input.defaultValue) return;
      }
      running = true;
      try {
        const res = await fetch(location.href, { headers: { "x-console-fragment": region.id }, credentials: "same-origin" });
        if (res.status === 401) { clearInterval(timer); say("session expired: reload the page to log in again"); return; }
        if (!res.ok) { say("refresh failed (" + res.status + ")"); return; }
        region.innerHTML = await res.text();
        say("updated " + new Date().toLocaleTimeString());
        if (res.headers.get("x-console-live") === "stop") { clearInterval(timer); say("final state: no more updates"); }
      } catch (e) {
        say("refresh failed: " + (e && e.message ? e.message : "network error"));
      } finally {
        running = false;
      }
    }, every);
  }
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) { event.preventDefault(); return; }
    if (form.dataset.busy) {
      const box = document.getElementById(form.dataset.busyTarget || "busy");
      if (box) { box.hidden = false; const text = box.querySelector(".busy-text"); if (text) text.textContent = form.dataset.busy; }
      setTimeout(() => { for (const b of form.querySelectorAll("button")) b.disabled = true; }, 0);
    }
  });
})();
`;
