/// The report's stylesheet, inlined in its `<style>`: system fonts only, a light neutral page,
/// drifted in a dark orange (#c2410c, 5.2:1 on white), stable in slate grey, not computed in
/// amber; reference bars grey and current bars blue in every chart. Laid out for 1280 px and
/// narrower (the chart grid folds to one column).
enum ReportStyle {
    static let css = """
        :root{--ink:#1e2630;--muted:#5b6573;--faint:#6f7a88;--line:#e3e7ec;--page:#f3f5f8;--card:#fff;
        --drift:#c2410c;--drift-ink:#9a3412;--drift-bg:#fff4ec;--drift-chip:#fde2d0;
        --stable:#475569;--stable-chip:#e6ebf1;--nc:#8a6100;--nc-bg:#fdf7e3;--nc-chip:#f8ebc4;
        --ref:#a9b3bf;--cur:#2563a8;--ok:#166534}
        *{box-sizing:border-box}
        html{-webkit-text-size-adjust:100%}
        body{margin:0;background:var(--page);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Liberation Sans","DejaVu Sans",Arial,sans-serif}
        .page{max-width:1220px;margin:0 auto;padding:28px 24px 40px}
        h1,h2,h3{margin:0;line-height:1.25}
        h1{font-size:26px;font-weight:650}
        h2{font-size:18px;font-weight:650;margin-bottom:4px}
        h3{font-size:16px;font-weight:650;overflow-wrap:anywhere}
        code{white-space:nowrap;font:12.5px/1.4 ui-monospace,"SFMono-Regular","DejaVu Sans Mono",Menlo,Consolas,monospace;background:#eef1f5;border-radius:4px;padding:1px 5px}
        a{color:inherit;text-decoration:none;border-bottom:1px dotted var(--faint)}
        a:hover{border-bottom-style:solid}
        section,.report-header,.feature{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:20px 24px;margin-top:18px}
        .report-header{margin-top:0;padding:24px 28px}
        .eyebrow{margin:0 0 4px;font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:var(--muted);font-weight:600}
        .namespace{color:var(--muted);font-weight:500}
        .meta{margin:6px 0 0;color:var(--muted)}
        .meta b{color:var(--ink);font-weight:600}
        .verdict{margin:16px 0 0;padding:10px 14px;border-radius:8px;border-left:5px solid;font-size:15px}
        .verdict-drifted{background:var(--drift-bg);border-color:var(--drift)}
        .verdict-stable{background:#f1f4f7;border-color:var(--stable)}
        .verdict-label{font-weight:700;margin-right:6px}
        .verdict-drifted .verdict-label{color:var(--drift-ink)}
        .windows{display:flex;flex-wrap:wrap;gap:8px 28px;margin-top:14px}
        .window-title{font-weight:600;margin-right:4px}
        .window-range{font-variant-numeric:tabular-nums}
        .window-rows{color:var(--muted);margin-left:6px}
        .tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin-top:18px}
        .tile{border:1px solid var(--line);border-radius:8px;padding:10px 14px;border-left:4px solid var(--line)}
        .tile-alert{border-left-color:var(--drift)}
        .tile-label{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.05em;font-weight:600}
        .tile-value{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums}
        .tile-alert .tile-value{color:var(--drift-ink)}
        .tile-detail{font-size:12.5px;color:var(--muted)}
        .section-note{margin:0 0 12px;color:var(--muted)}
        .table-wrap{overflow-x:auto}
        table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
        table.narrow{width:auto;min-width:60%}
        th,td{padding:7px 10px;text-align:left;vertical-align:top;border-bottom:1px solid var(--line)}
        thead th{font-size:12px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.04em;background:#f8f9fb;border-bottom:1px solid #d5dbe2;white-space:nowrap}
        tbody th{font-weight:600;overflow-wrap:break-word}
        tbody tr:last-child>*{border-bottom:none}
        .num{text-align:right;white-space:nowrap}
        td.note{color:var(--muted);max-width:340px}
        td.decision{max-width:230px}
        .decision-reason{display:block;margin-top:3px;font-size:12.5px;color:#6b4b00;line-height:1.35}
        .row-drifted>*{background:var(--drift-bg)}
        .row-drifted>:first-child,.row-violated>:first-child{box-shadow:inset 4px 0 0 var(--drift)}
        .row-violated>*{background:var(--drift-bg)}
        .row-nc>*{color:var(--muted)}
        .row-nc>:first-child{box-shadow:inset 4px 0 0 #d9b44a}
        .history tbody th{font-weight:400;white-space:nowrap}
        .history .row-current>*{font-weight:650}
        .muted{color:var(--faint)}
        .badge{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:650;white-space:nowrap;line-height:1.6}
        .badge-drifted{background:var(--drift-chip);color:var(--drift-ink)}
        .badge-stable{background:var(--stable-chip);color:#334155}
        .badge-nc{background:var(--nc-chip);color:#6b4b00}
        .badge-muted{background:#eef0f3;color:var(--muted)}
        .better{color:var(--ok)}
        .worse{color:var(--drift-ink);font-weight:600}
        .chip{display:inline-block;margin:1px 0;padding:0 8px;border-radius:6px;background:var(--drift-chip);color:var(--drift-ink);font-weight:600;font-size:13px}
        .chip-score{font-weight:400}
        .details{background:none;border:none;padding:0;margin-top:26px}
        .feature{border-left:5px solid var(--stable);margin-top:12px}
        .feature-drifted{border-left-color:var(--drift)}
        .feature-nc{border-left-color:#d9b44a;background:var(--nc-bg)}
        .feature-header{display:flex;align-items:center;gap:10px;flex-wrap:wrap}
        .feature-kind{color:var(--muted);font-size:13px}
        .stats{display:flex;flex-wrap:wrap;gap:6px 26px;margin:10px 0 0}
        .stats div{min-width:70px}
        .stats dt{font-size:11.5px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em;font-weight:600}
        .stats dd{margin:0;font-size:15px;font-variant-numeric:tabular-nums}
        .reason{margin:12px 0 0;padding:8px 12px;border-radius:6px;background:var(--nc-chip);color:#4d3700}
        .charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:14px 24px;margin-top:14px;align-items:start}
        .chart-figure{margin:0}
        .history-grid{grid-template-columns:minmax(0,1fr) minmax(0,1fr)}
        .chart-figure figcaption{display:flex;flex-wrap:wrap;align-items:center;gap:4px 14px;font-weight:600;font-size:13px;margin-bottom:4px}
        .chart-empty p{color:var(--muted);margin:6px 0}
        .chart-note{margin:4px 0 0;color:var(--muted);font-size:12.5px}
        .legend{display:inline-flex;align-items:center;gap:4px 6px;font-weight:400;color:var(--muted);font-size:12px}
        .swatch{display:inline-block;width:11px;height:11px;border-radius:2px;margin-left:8px;vertical-align:-1px}
        .swatch-ref{background:var(--ref)}
        .swatch-cur{background:var(--cur)}
        .swatch-line{height:3px;width:16px;background:#334155;border-radius:0}
        .swatch-threshold{height:0;width:16px;border-top:2px dashed var(--drift);border-radius:0}
        .swatch-band{background:rgba(37,99,168,.16);border:1px dashed #6b8fc0}
        .swatch-drifted{border-radius:50%;background:var(--drift)}
        svg.chart{display:block;width:100%;max-width:620px;height:auto;overflow:visible}
        svg .ref{fill:var(--ref)}
        svg .cur{fill:var(--cur)}
        svg g:hover rect{opacity:.8}
        svg .grid{stroke:#eceff3;stroke-width:1}
        svg .axis{stroke:#9aa4b0;stroke-width:1}
        svg .tick{stroke:#9aa4b0}
        svg .axis-label{font-size:11px;fill:var(--muted)}
        svg .threshold{fill:none;stroke:var(--drift);stroke-width:1.5;stroke-dasharray:6 4}
        svg .band{fill:rgba(37,99,168,.10)}
        svg .band-edge{fill:none;stroke:#6b8fc0;stroke-width:1;stroke-dasharray:4 3}
        svg .series-line{fill:none;stroke:#334155;stroke-width:2;stroke-linejoin:round}
        svg .point-stable{fill:#334155}
        svg .point-drifted{fill:var(--drift);stroke:#fff;stroke-width:1.5}
        svg .point-nc path{stroke:#a07a00;stroke-width:1.6}
        footer{margin-top:26px;text-align:center;color:var(--faint);font-size:12px}
        @media (max-width:760px){.page{padding:14px 10px}.charts{grid-template-columns:1fr}section,.report-header,.feature{padding:14px}}
        @media print{body{background:#fff}section,.report-header,.feature{break-inside:avoid;border-color:#ccc}}
        """
}
