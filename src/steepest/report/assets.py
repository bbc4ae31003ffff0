"""The study report's inline stylesheet and script (the page loads nothing else)."""

# Blocks every request the page could make except its own inline script, style and
# data-URI images, so the report provably works offline (a violation shows in the console).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
)

STYLE = """
:root { --ink: #202124; --muted: #5f6368; --line: #e3e5e8; --accent: #1f77b4;
        --best: #d62728; --paper: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--ink); background: var(--paper); }
header { background: #fff; border-bottom: 1px solid var(--line); padding: 20px 32px 0; }
header h1 { margin: 0; font-size: 24px; }
header p { margin: 2px 0 10px; color: var(--muted); }
nav { display: flex; flex-wrap: wrap; gap: 4px 18px; padding-bottom: 10px; }
nav a { color: var(--accent); text-decoration: none; font-size: 14px; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 24px 48px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px;
          padding: 18px 22px; margin-bottom: 20px; }
section h2 { margin: 0 0 12px; font-size: 18px; }
img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
.note { color: var(--muted); font-style: italic; }
.caption { color: var(--muted); margin: -6px 0 10px; font-size: 14px; }
h3 { font-size: 15px; margin: 8px 0 6px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(128px, 1fr));
         gap: 12px; margin-bottom: 16px; }
.tile { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.tile b { display: block; font-size: 22px; white-space: nowrap;
          font-variant-numeric: tabular-nums; }
.tile span { color: var(--muted); font-size: 13px; }
.tile.best { border-color: var(--best); }
.tile.best b { color: var(--best); }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px;
         background: #e8f0fe; color: var(--accent); vertical-align: middle; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin-top: 8px; }
table.compact { width: auto; min-width: 320px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left;
         white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { max-height: 640px; overflow: auto; border: 1px solid var(--line); border-radius: 6px; }
.scroll thead th { position: sticky; top: 0; background: #fff; z-index: 1;
                   box-shadow: 0 1px 0 var(--line); }
th button { all: unset; cursor: pointer; font-weight: 600; }
th button::after { content: " \\2195"; color: #bbb; }
th[aria-sort=ascending] button::after { content: " \\2191"; color: var(--ink); }
th[aria-sort=descending] button::after { content: " \\2193"; color: var(--ink); }
tbody tr:nth-child(even) { background: #fafbfc; }
tbody tr:hover { background: #eef3fb; }
tr.best td { font-weight: 600; color: var(--best); }
.state { padding: 0 6px; border-radius: 4px; font-size: 12px; }
.state-COMPLETE { background: #e6f4ea; color: #137333; }
.state-PRUNED { background: #f1f3f4; color: var(--muted); }
.state-FAIL { background: #fce8e6; color: #a50e0e; }
.state-RUNNING, .state-WAITING { background: #e8f0fe; color: var(--accent); }
"""

# Click a column header of a table.sortable to sort its rows by that column (again to
# reverse). Cells sort by their data-sort attribute when present, numbers numerically;
# empty cells (no value yet) always go last.
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th button").forEach(function (button, column) {
    button.addEventListener("click", function () {
      var th = button.parentElement;
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var key = function (row) {
        var cell = row.cells[column];
        var text = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort")
                                                  : cell.textContent;
        var number = Number(text);
        return text === "" ? null : (isNaN(number) ? text : number);
      };
      var rows = Array.from(table.tBodies[0].rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) return (x === null) - (y === null);
        var order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0)
                                          : (typeof x === "number" ? -1 : 1);
        return ascending ? order : -order;
      });
      table.tBodies[0].append.apply(table.tBodies[0], rows);
    });
  });
});
"""
