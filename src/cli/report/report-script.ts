/**
 * The report page's script, inlined after uPlot's: it draws each chart of the data element
 * (`#report-data`, see `reportPage`) into its figure, one coloured series per run. Plain
 * browser JavaScript in a raw string, so it holds no backtick and no dollar-brace; a test
 * parses it.
 *
 * `window.sousReport.charts` lists the drawn charts as `{ id, plot }` (`plot` is the uPlot
 * instance): what a test, or a reader at the console, inspects.
 */
export const reportScript = String.raw`
(function () {
  "use strict";

  var HEIGHT = 200;
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var charts = [];

  function widthOf(element) { return Math.max(280, Math.floor(element.clientWidth)); }

  function seriesOf(chart) {
    // Evaluations are few: show each as a dot. A lone point has no line to show it.
    var dots = chart.source === "eval" || chart.steps.length === 1;
    return [{ label: "step" }].concat(chart.series.map(function (series) {
      var run = data.runs[series.run];
      return {
        label: run.name,
        stroke: run.color,
        width: chart.source === "eval" ? 2 : 1.5,
        spanGaps: true,
        points: dots ? { show: true, size: 6, fill: run.color, stroke: run.color } : { show: false }
      };
    }));
  }

  data.charts.forEach(function (chart) {
    var target = document.querySelector("#" + chart.id + " .plot");
    var plot = new uPlot({
      width: widthOf(target),
      height: HEIGHT,
      scales: { x: { time: false } },
      axes: [{ label: "step", labelSize: 18, labelFont: "12px system-ui, sans-serif" }, { size: 60 }],
      series: seriesOf(chart)
    }, [chart.steps].concat(chart.series.map(function (series) { return series.values; })), target);
    charts.push({ id: chart.id, plot: plot });
  });

  window.addEventListener("resize", function () {
    charts.forEach(function (chart) {
      chart.plot.setSize({ width: widthOf(chart.plot.root.parentNode), height: HEIGHT });
    });
  });

  window.sousReport = { charts: charts };
})();
`
