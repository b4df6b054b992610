// Renders the nettrail report from the JSON in #nt-data. Each widget kind the
// analyzer's ReportBuilder emits has one function here, so a new probe family
// adds sections without touching this file.
//
// Safety: recorded text (interface names, comms, symbols) is untrusted. It is
// inserted only with textContent / createTextNode, never parsed as markup, and chart
// tooltips are built by formatters that escape every piece of data.
(function () {
  'use strict';

  var data = JSON.parse(document.getElementById('nt-data').textContent);
  var charts = [];

  // Control characters from the kernel (e.g. an escape sequence in a comm) are
  // shown as \xNN so the reader sees exactly what was recorded.
  function visible(text) {
    return String(text).replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, function (c) {
      var code = c.charCodeAt(0).toString(16);
      return '\\x' + (code.length < 2 ? '0' : '') + code;
    });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = visible(text);
    return node;
  }

  // Identifiers read better without thousands separators (netns 4026531840).
  var kIdentifierColumn = /(^|_)(id|netns|ifindex|tid|pid|port|cpu|seq|index|segment|address|location|code|type|op|ttl)$/i;

  function plural(n, word) {
    return n + ' ' + word + (n === 1 ? '' : 's');
  }

  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  function formatNumber(value) {
    if (typeof value !== 'number') return value === null || value === undefined ? '' : String(value);
    if (Number.isInteger(value)) return value.toLocaleString('en-US');
    return value.toLocaleString('en-US', { maximumFractionDigits: 3 });
  }

  function pad(n, width) {
    var s = String(n);
    while (s.length < width) s = '0' + s;
    return s;
  }

  // "2026-11-26 01:27:13.250" (UTC) for ms since the epoch.
  function formatWall(ms) {
    var d = new Date(ms);
    return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1, 2) + '-' + pad(d.getUTCDate(), 2) + ' ' +
      pad(d.getUTCHours(), 2) + ':' + pad(d.getUTCMinutes(), 2) + ':' + pad(d.getUTCSeconds(), 2) + '.' +
      pad(d.getUTCMilliseconds(), 3);
  }

  function widgetBox(kind, title) {
    var box = el('div', 'nt-widget nt-' + kind);
    if (title) box.appendChild(el('h3', null, title));
    return box;
  }

  function emptyNote(text) {
    return el('p', 'nt-empty', text || 'no rows');
  }

  // ------------------------------------------------------------ headline strip
  function renderHeadlines(headlines) {
    var strip = el('div', 'nt-headlines');
    headlines.forEach(function (h) {
      var item = el('div', 'nt-headline');
      if (h.label === 'Data loss') item.className += h.value === 'none' ? ' nt-good' : ' nt-bad';
      item.appendChild(el('div', 'nt-headline-value', h.value));
      item.appendChild(el('div', 'nt-headline-label', h.label));
      strip.appendChild(item);
    });
    return strip;
  }

  function renderProblems(problems) {
    var box = el('div', 'nt-panel nt-panel-bad');
    box.appendChild(el('h2', null, 'This report is incomplete'));
    var list = el('ul');
    problems.forEach(function (p) { list.appendChild(el('li', null, p)); });
    box.appendChild(list);
    return box;
  }

  // ------------------------------------------------------------ facts, notes, loss
  function renderFacts(w) {
    var box = widgetBox('facts', null);
    var dl = el('dl', 'nt-facts');
    w.items.forEach(function (item) {
      dl.appendChild(el('dt', null, item[0]));
      dl.appendChild(el('dd', null, item[1] === '' ? '(not recorded)' : item[1]));
    });
    box.appendChild(dl);
    return box;
  }

  function renderNote(w) {
    return el('p', 'nt-note nt-' + w.tone, w.text);
  }

  function renderLoss(w) {
    var box = el('div', 'nt-panel ' + (w.lost ? 'nt-panel-bad' : 'nt-panel-good'));
    box.appendChild(el('strong', null, w.lost ? 'Data loss' : 'No data loss recorded'));
    box.appendChild(el('p', null, w.text));
    return box;
  }

  function renderError(w) {
    var box = widgetBox('error', w.title);
    box.appendChild(el('p', 'nt-note nt-error', w.message));
    return box;
  }

  // ------------------------------------------------------------ findings
  // The ranked findings (analyzer/findings/*.sql): severity, what was found,
  // the numbers, the next step, and the rows behind the numbers.
  function renderFindings(w) {
    var box = widgetBox('findings', null);
    if (w.items.length === 0) {
      box.appendChild(el('p', 'nt-note nt-ok', 'No findings: none of the ' + w.rules + ' rules matched.'));
      return box;
    }
    var list = el('ol', 'nt-finding-list');
    w.items.forEach(function (f) {
      var item = el('li', 'nt-finding nt-finding-' + f.severity);
      var head = el('div', 'nt-finding-head');
      head.appendChild(el('span', 'nt-severity', f.severity));
      head.appendChild(el('span', 'nt-finding-title', f.title));
      item.appendChild(head);
      [['Evidence', f.evidence], ['Next step', f.next]].forEach(function (part) {
        if (!part[1]) return;
        var line = el('p', 'nt-finding-line');
        line.appendChild(el('span', 'nt-finding-label', part[0] + ': '));
        line.appendChild(document.createTextNode(visible(part[1])));
        item.appendChild(line);
      });
      if (f.rows.length) {
        var table = el('table', 'nt-finding-rows');
        var head_row = el('tr');
        f.columns.forEach(function (c) { head_row.appendChild(el('th', null, c)); });
        table.appendChild(el('thead')).appendChild(head_row);
        var body = el('tbody');
        f.rows.forEach(function (r) {
          var tr = el('tr');
          r.forEach(function (v) {
            tr.appendChild(el('td', typeof v === 'number' ? 'nt-num' : null, typeof v === 'number' ? formatNumber(v) : v));
          });
          body.appendChild(tr);
        });
        table.appendChild(body);
        item.appendChild(table);
        if (f.total > f.rows.length) item.appendChild(emptyNote('First ' + f.rows.length + ' of ' + f.total + ' rows.'));
      }
      list.appendChild(item);
    });
    box.appendChild(list);
    return box;
  }

  // ------------------------------------------------------------ table
  function compareCells(a, b) {
    if (a === b) return 0;
    if (a === null || a === undefined) return 1;   // nulls last
    if (b === null || b === undefined) return -1;
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    var na = Number(a), nb = Number(b);
    if (a !== '' && b !== '' && !isNaN(na) && !isNaN(nb)) return na - nb;
    return String(a).localeCompare(String(b));
  }

  function renderTable(w) {
    var box = widgetBox('table', w.title);
    if (w.rows.length === 0) {
      box.appendChild(emptyNote());
      return box;
    }
    var tools = el('div', 'nt-table-tools');
    var filter = el('input', 'nt-filter');
    filter.type = 'search';
    filter.placeholder = 'Filter rows';
    filter.setAttribute('aria-label', 'Filter rows of ' + w.title);
    var count = el('span', 'nt-count');
    tools.appendChild(filter);
    tools.appendChild(count);
    box.appendChild(tools);

    var wrap = el('div', 'nt-table-wrap');
    var table = el('table');
    var thead = el('thead');
    var headRow = el('tr');
    var tbody = el('tbody');
    var order = w.rows.map(function (_, i) { return i; });
    var sortColumn = -1, sortDir = 1;
    var numeric = w.columns.map(function (_, c) {
      return w.rows.every(function (r) { return r[c] === null || typeof r[c] === 'number'; });
    });
    var rowText = w.rows.map(function (r) {
      return r.map(function (v) { return v === null ? '' : String(v); }).join('\u0001').toLowerCase();
    });
    var grouped = w.columns.map(function (name, c) { return numeric[c] && !kIdentifierColumn.test(name); });
    var rowNodes = w.rows.map(function (r) {
      var tr = el('tr');
      r.forEach(function (v, c) {
        var td = el('td', numeric[c] ? 'nt-num' : null, v === null ? '' : (grouped[c] ? formatNumber(v) : v));
        if (v === null) td.className += ' nt-null';
        tr.appendChild(td);
      });
      return tr;
    });
    var headers = w.columns.map(function (name, c) {
      var th = el('th', numeric[c] ? 'nt-num' : null);
      var button = el('button', 'nt-sort', name);
      button.type = 'button';
      button.title = 'Sort by ' + name;
      button.addEventListener('click', function () {
        if (sortColumn === c) sortDir = -sortDir; else { sortColumn = c; sortDir = numeric[c] ? -1 : 1; }
        order.sort(function (a, b) { return sortDir * compareCells(w.rows[a][c], w.rows[b][c]) || a - b; });
        headers.forEach(function (h, i) {
          h.setAttribute('aria-sort', i === sortColumn ? (sortDir > 0 ? 'ascending' : 'descending') : 'none');
        });
        refresh();
      });
      th.appendChild(button);
      th.setAttribute('aria-sort', 'none');
      headRow.appendChild(th);
      return th;
    });
    thead.appendChild(headRow);
    table.appendChild(thead);
    table.appendChild(tbody);
    wrap.appendChild(table);
    box.appendChild(wrap);
    var noMatch = emptyNote('no rows match the filter');
    noMatch.hidden = true;
    box.appendChild(noMatch);

    function refresh() {
      var needle = filter.value.toLowerCase();
      var shown = 0;
      while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
      order.forEach(function (i) {
        if (needle && rowText[i].indexOf(needle) < 0) return;
        tbody.appendChild(rowNodes[i]);
        shown++;
      });
      noMatch.hidden = shown !== 0;
      var text = shown === w.rows.length ? plural(shown, 'row') : shown + ' of ' + plural(w.rows.length, 'row');
      if (w.truncated) text += ' (first ' + w.rows.length + ' of ' + w.total + ' in the database)';
      count.textContent = text;
    }
    filter.addEventListener('input', refresh);
    refresh();
    return box;
  }

  // ------------------------------------------------------------ charts
  function chartBox(box, height) {
    var div = el('div', 'nt-chart');
    div.style.height = height + 'px';
    box.appendChild(div);
    return div;
  }

  function makeChart(div, option) {
    // Text is drawn on a canvas; tooltips use our escaping formatters.
    var chart = echarts.init(div, null, { renderer: 'canvas' });
    option.animation = false;
    option.useUTC = true;
    chart.setOption(option);
    charts.push(chart);
    return chart;
  }

  function truncateLabel(text, max) {
    text = String(text);
    return text.length > max ? text.slice(0, max - 1) + '\u2026' : text;
  }

  function renderBar(w) {
    var box = widgetBox('bar', w.title);
    if (w.labels.length === 0) {
      box.appendChild(emptyNote());
      return box;
    }
    // Horizontal bars, largest first at the top: long labels (reasons, symbols) stay readable.
    var labels = w.labels.slice().reverse();
    var values = w.values.slice().reverse();
    var div = chartBox(box, Math.max(160, Math.min(900, 28 * labels.length + 60)));
    makeChart(div, {
      grid: { left: 8, right: 48, top: 8, bottom: 24, containLabel: true },
      tooltip: {
        trigger: 'item',
        formatter: function (p) {
          return escapeHtml(p.name) + '<br>' + escapeHtml(w.valueName) + ': ' + escapeHtml(formatNumber(p.value));
        }
      },
      xAxis: { type: 'value', name: '', axisLabel: { formatter: function (v) { return formatNumber(v); } } },
      yAxis: {
        type: 'category', data: labels,
        axisLabel: { formatter: function (v) { return truncateLabel(v, 48); } }
      },
      series: [{
        type: 'bar', data: values, name: w.valueName, itemStyle: { color: '#3b6ea8' },
        label: { show: true, position: 'right', formatter: function (p) { return formatNumber(p.value); } }
      }]
    });
    return box;
  }

  // Several series side by side per label (e.g. before and after in a diff).
  function renderCompareBar(w) {
    var box = widgetBox('bar', w.title);
    if (w.labels.length === 0) {
      box.appendChild(emptyNote());
      return box;
    }
    var labels = w.labels.slice().reverse();
    var colors = ['#8a8f98', '#3b6ea8', '#c0703a', '#5a9a5a'];
    var div = chartBox(box, Math.max(180, Math.min(1200, 20 * w.series.length * labels.length + 80)));
    makeChart(div, {
      grid: { left: 8, right: 48, top: 32, bottom: 24, containLabel: true },
      legend: { top: 0 },
      tooltip: {
        trigger: 'axis', axisPointer: { type: 'shadow' },
        formatter: function (params) {
          if (!params.length) return '';
          var lines = [escapeHtml(params[0].name)];
          params.forEach(function (p) {
            lines.push(escapeHtml(p.seriesName) + ': ' + escapeHtml(formatNumber(p.value)));
          });
          return lines.join('<br>');
        }
      },
      xAxis: { type: 'value', axisLabel: { formatter: function (v) { return formatNumber(v); } } },
      yAxis: {
        type: 'category', data: labels,
        axisLabel: { formatter: function (v) { return truncateLabel(v, 48); } }
      },
      series: w.series.map(function (s, i) {
        return {
          type: 'bar', name: s.name, data: s.values.slice().reverse(),
          itemStyle: { color: colors[i % colors.length] },
          label: { show: true, position: 'right', formatter: function (p) { return formatNumber(p.value); } }
        };
      })
    });
    return box;
  }

  function renderTimeSeries(w) {
    var box = widgetBox('timeseries', w.title);
    if (w.series.length === 0) {
      box.appendChild(emptyNote());
      return box;
    }
    var wall = w.clock === 'wall';
    var div = chartBox(box, 320);
    var series = w.series.map(function (s) {
      var out = { name: s.name, type: w.stacked ? 'bar' : 'line', data: s.points, showSymbol: s.points.length < 60 };
      if (w.stacked) { out.stack = 'total'; out.barMaxWidth = 24; out.barMinWidth = 3; }
      return out;
    });
    var formatTime = wall ? formatWall : function (ms) { return (ms / 1000).toFixed(3) + ' s (boottime)'; };
    // The axis spans the whole recording when its times are known, so charts of
    // one report line up; a lone point gets a small window instead of ECharts'
    // automatic multi-day range.
    var lo = Infinity, hi = -Infinity;
    w.series.forEach(function (s) {
      s.points.forEach(function (p) { lo = Math.min(lo, p[0]); hi = Math.max(hi, p[0]); });
    });
    if (wall && typeof data.startMs === 'number') lo = Math.min(lo, data.startMs);
    if (wall && typeof data.endMs === 'number') hi = Math.max(hi, data.endMs);
    var padding = Math.max(500, (hi - lo) * 0.02);
    var xRange = { min: lo - padding, max: hi + padding };
    makeChart(div, {
      grid: { left: 8, right: 44, top: 40, bottom: 16, containLabel: true },
      legend: {
        type: 'scroll', top: 0,
        formatter: function (name) { return truncateLabel(name, 40); }
      },
      tooltip: {
        trigger: 'axis',
        formatter: function (params) {
          if (!params.length) return '';
          var lines = [escapeHtml(formatTime(params[0].value[0]))];
          params.forEach(function (p) {
            lines.push(escapeHtml(p.seriesName) + ': ' + escapeHtml(formatNumber(p.value[1])));
          });
          return lines.join('<br>');
        }
      },
      xAxis: wall
        ? { type: 'time', name: 'UTC', nameLocation: 'end', nameGap: 4, min: xRange.min, max: xRange.max }
        : {
            type: 'value', name: 'boottime s', min: xRange.min, max: xRange.max,
            axisLabel: { formatter: function (v) { return (v / 1000).toFixed(1); } }
          },
      yAxis: {
        type: 'value', name: w.valueName, nameTextStyle: { align: 'left' },
        axisLabel: { formatter: function (v) { return formatNumber(v); } }
      },
      dataZoom: [{ type: 'inside' }],
      series: series
    });
    if (w.truncated) box.appendChild(el('p', 'nt-empty', 'Only the first series and points are shown.'));
    return box;
  }

  // ------------------------------------------------------------ stacks
  function renderStacks(w) {
    var box = widgetBox('stacks', w.title);
    if (w.stacks.length === 0) {
      box.appendChild(emptyNote());
      return box;
    }
    var list = el('div', 'nt-stack-list');
    w.stacks.forEach(function (s, i) {
      var details = el('details', 'nt-stack');
      if (i === 0) details.open = true;
      var summary = el('summary');
      summary.appendChild(el('span', 'nt-stack-count', formatNumber(s.count)));
      summary.appendChild(el('span', 'nt-stack-label', s.label));
      details.appendChild(summary);
      if (s.frames.length === 0) {
        details.appendChild(emptyNote('no stack recorded'));
      } else {
        var ol = el('ol', 'nt-frames');
        s.frames.forEach(function (f) { ol.appendChild(el('li', null, f)); });
        details.appendChild(ol);
        if (s.depth > s.frames.length) {
          details.appendChild(emptyNote((s.depth - s.frames.length) + ' outer frames not shown'));
        }
      }
      list.appendChild(details);
    });
    box.appendChild(list);
    if (w.truncated) box.appendChild(el('p', 'nt-empty', 'Top ' + w.stacks.length + ' of ' + w.total + ' stacks.'));
    return box;
  }

  // ------------------------------------------------------------ flame graph
  // Root at the top, children below, widths proportional to value. A click on
  // a frame zooms to it; a click on the root row zooms back out.
  function renderFlame(w) {
    var box = widgetBox('flame', w.title);
    if (!w.root || !w.root.v) {
      box.appendChild(emptyNote());
      return box;
    }
    var rows = [];
    var maxDepth = 0;
    (function walk(node, x, depth) {
      rows.push([x, x + node.v, depth, node.n, node.v]);
      if (depth > maxDepth) maxDepth = depth;
      var cx = x;
      (node.c || []).forEach(function (c) {
        walk(c, cx, depth + 1);
        cx += c.v;
      });
    })(w.root, 0, 0);
    var total = w.root.v;
    var rowHeight = 18;
    var div = chartBox(box, Math.min(2400, (maxDepth + 1) * rowHeight + 16));
    var palette = ['#e8a33d', '#e3823b', '#d9663a', '#e6b14d', '#cf8a3c', '#ebc15a'];
    function colorFor(name) {
      var h = 0;
      for (var i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
      return palette[h % palette.length];
    }
    var chart = makeChart(div, {
      grid: { left: 2, right: 2, top: 2, bottom: 2 },
      xAxis: { type: 'value', min: 0, max: total, show: false },
      yAxis: { type: 'value', min: 0, max: maxDepth + 1, inverse: true, show: false },
      tooltip: {
        formatter: function (p) {
          var v = p.value;
          return escapeHtml(visible(v[3])) + '<br>' + escapeHtml(formatNumber(v[4])) + ' ' + escapeHtml(w.unit) +
            ' (' + escapeHtml((100 * v[4] / total).toFixed(2)) + '%)';
        }
      },
      series: [{
        type: 'custom',
        clip: true,
        encode: { x: [0, 1], y: 2 },
        data: rows,
        renderItem: function (params, api) {
          var start = api.coord([api.value(0), api.value(2)]);
          var end = api.coord([api.value(1), api.value(2) + 1]);
          var width = end[0] - start[0];
          if (width < 0.5) return null;
          var name = visible(rows[params.dataIndex][3]);
          var chars = Math.floor((width - 6) / 7);
          return {
            type: 'rect',
            shape: { x: start[0], y: start[1], width: Math.max(width - 0.5, 0.5), height: end[1] - start[1] - 1 },
            style: { fill: params.dataIndex === 0 ? '#c9ccd2' : colorFor(name) },
            textContent: { style: { text: chars >= 3 ? truncateLabel(name, chars) : '', fill: '#1d1d1d', fontSize: 11 } },
            textConfig: { position: 'insideLeft' }
          };
        }
      }]
    });
    chart.on('click', function (p) {
      var v = rows[p.dataIndex];
      var zoomOut = p.dataIndex === 0;
      chart.setOption({ xAxis: { min: zoomOut ? 0 : v[0], max: zoomOut ? total : v[1] } });
    });
    box.appendChild(el('p', 'nt-empty', 'Width: ' + w.unit + '. Click a frame to zoom in, the top row to zoom out. ' +
      'Frames under 0.1% of the total are left out.'));
    return box;
  }

  var renderers = {
    table: renderTable,
    bar: renderBar,
    compareBar: renderCompareBar,
    timeSeries: renderTimeSeries,
    stacks: renderStacks,
    flame: renderFlame,
    findings: renderFindings,
    facts: renderFacts,
    note: renderNote,
    loss: renderLoss,
    error: renderError
  };

  function renderWidget(w) {
    var render = renderers[w.kind];
    if (!render) return el('p', 'nt-note nt-error', 'Unknown widget kind: ' + w.kind);
    try {
      return render(w);
    } catch (e) {
      // One broken widget must not blank the rest of the report.
      return el('p', 'nt-note nt-error', 'Could not render "' + (w.title || w.kind) + '": ' + e);
    }
  }

  // ------------------------------------------------------------ page
  function render() {
    var main = document.getElementById('nt-main');
    var toc = document.getElementById('nt-toc');
    main.appendChild(renderHeadlines(data.headlines));
    if (data.problems.length) main.appendChild(renderProblems(data.problems));
    data.sections.forEach(function (s) {
      var section = el('section', 'nt-section');
      section.id = 'section-' + s.id;
      section.appendChild(el('h2', null, s.title));
      if (s.intro) section.appendChild(el('p', 'nt-intro', s.intro));
      if (s.widgets.length === 0) section.appendChild(emptyNote('nothing recorded'));
      s.widgets.forEach(function (w) { section.appendChild(renderWidget(w)); });
      main.appendChild(section);
      var link = el('a', null, s.title);
      link.href = '#' + section.id;
      toc.appendChild(link);
    });
  }

  render();
  function resizeCharts() { charts.forEach(function (c) { c.resize(); }); }
  window.addEventListener('resize', resizeCharts);
  window.addEventListener('beforeprint', function () {
    // Paper cannot expand a collapsed stack.
    Array.prototype.forEach.call(document.querySelectorAll('details'), function (d) { d.open = true; });
    resizeCharts();
  });
})();
