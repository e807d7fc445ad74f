/**
 * The dashboard page's script, inlined into the page: plain browser JavaScript (no build
 * step, no module loader), run after uPlot's script has defined `uPlot`. It is a raw string,
 * so it must hold no backtick and no dollar-brace; a test parses it.
 *
 * What it does: keeps the API key in sessionStorage (taken from `#key=` once, then removed
 * from the address bar, or typed into a form), lists the jobs every few seconds, and follows
 * the selected job (`#job=<id>`) through its event stream: a chart of train and eval loss,
 * the job's facts, its checkpoints and its events.
 */
export const dashboardScript = String.raw`
(function () {
  "use strict";

  var KEY_STORAGE = "sous.apiKey";
  var JOBS_EVERY_MS = 5000;
  var RECONNECT_MS = 2000;
  var DETAILS_EVERY_MS = 2000;

  var state = {
    key: null,
    jobs: [],
    jobId: null,
    job: null,
    stream: null,
    jobsTimer: null,
    chart: null,
    train: new Map(),
    evals: new Map(),
    renderTimer: null,
    details: { running: false, again: false, last: 0, timer: null }
  };

  function $(id) { return document.getElementById(id); }

  // A DOM element with text or children: no HTML is ever parsed from the server's strings.
  function el(tag, props, children) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (name) {
        var value = props[name];
        if (value === undefined || value === null) return;
        if (name === "text") node.textContent = String(value);
        else if (name === "className") node.className = value;
        else node.setAttribute(name, String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function formatTime(seconds) {
    return typeof seconds === "number" ? new Date(seconds * 1000).toLocaleString() : "–";
  }

  // The list's short form: the date and the minute, in the reader's locale.
  function formatShortTime(seconds) {
    return typeof seconds === "number"
      ? new Date(seconds * 1000).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" })
      : "–";
  }

  function formatNumber(value) {
    if (typeof value !== "number" || !isFinite(value)) return String(value);
    if (Number.isInteger(value)) return value.toLocaleString();
    return Math.abs(value) >= 1000 ? value.toFixed(0) : value.toPrecision(4);
  }

  function stepText(job) {
    var sous = job && job.sous;
    if (!sous) return "–";
    var step = typeof sous.step === "number" ? sous.step : 0;
    return typeof sous.total_steps === "number" ? step + " / " + sous.total_steps : String(step);
  }

  function statusBadge(status) {
    return el("span", { className: "status " + String(status), text: String(status).replace("_", " ") });
  }

  // One message at a time; each names its source, so that source's success can clear it.
  function notice(text, source) {
    $("notice").textContent = text || "";
    $("notice").setAttribute("data-source", source || "");
  }

  function clearNotice(source) {
    if ($("notice").getAttribute("data-source") === source) notice("");
  }

  function setConnection(text) { $("connection").textContent = text; }

  // --- the key and the address bar ---

  function readHash() {
    var params = new URLSearchParams(location.hash.slice(1));
    return { key: params.get("key"), job: params.get("job") };
  }

  // The key does not stay in the address bar (the entry is replaced): only the job does.
  function writeHash(jobId) {
    var hash = jobId ? "#job=" + encodeURIComponent(jobId) : "";
    history.replaceState(null, "", location.pathname + location.search + hash);
  }

  function takeHash() {
    var hash = readHash();
    if (hash.key) {
      sessionStorage.setItem(KEY_STORAGE, hash.key);
      writeHash(hash.job);
    }
    return hash;
  }

  function Unauthorized(message) { this.message = message; }

  function signOut(message) {
    sessionStorage.removeItem(KEY_STORAGE);
    state.key = null;
    stopStream();
    clearTimeout(state.jobsTimer);
    // Nothing of the last key's job may stay on screen or be asked for with no key; the
    // next key starts from its own jobs (select() ignores the job already selected).
    clearTimeout(state.details.timer);
    state.details.timer = null;
    select(null);
    $("app").hidden = true;
    $("sign-out").hidden = true;
    $("key-form").hidden = false;
    $("key-message").textContent = message || "Paste the API key of a tenant of this server.";
    setConnection("");
    notice("");
    $("key-input").focus();
  }

  async function api(path, signal) {
    var response = await fetch(path, {
      headers: { Authorization: "Bearer " + state.key, Accept: "application/json" },
      cache: "no-store",
      signal: signal
    });
    if (response.status === 401) throw new Unauthorized("The server refused this key.");
    if (!response.ok) {
      var message = response.status + " " + response.statusText;
      try {
        var body = await response.json();
        if (body && body.error && body.error.message) message = body.error.message;
      } catch (ignored) { /* not JSON: the status says enough */ }
      var error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return response.json();
  }

  function failed(error, what, source) {
    if (error instanceof Unauthorized) signOut(error.message);
    else if (!(error && error.name === "AbortError")) notice(what + ": " + (error && error.message ? error.message : String(error)), source);
  }

  // --- the jobs list ---

  async function refreshJobs() {
    clearTimeout(state.jobsTimer);
    var key = state.key;
    try {
      var list = await api("v1/fine_tuning/jobs?limit=100");
      if (state.key !== key) return;
      state.jobs = list.data || [];
      renderJobs();
      clearNotice("jobs");
    } catch (error) {
      failed(error, "Cannot list the jobs", "jobs");
    }
    if (state.key !== null && state.key === key) state.jobsTimer = setTimeout(refreshJobs, JOBS_EVERY_MS);
  }

  function renderJobs() {
    var body = $("jobs-body");
    body.replaceChildren.apply(body, state.jobs.map(function (job) {
      var row = el("tr", { "data-job-id": job.id, className: job.id === state.jobId ? "selected" : "" }, [
        el("td", {}, [
          el("a", { href: "#job=" + encodeURIComponent(job.id), className: "mono", text: job.id }),
          el("div", { className: "sub", text: job.model })
        ]),
        el("td", {}, [statusBadge(job.status)]),
        el("td", { text: formatShortTime(job.created_at), title: formatTime(job.created_at) }),
        el("td", { text: stepText(job) })
      ]);
      row.addEventListener("click", function (event) {
        if (event.target.tagName !== "A") location.hash = "job=" + encodeURIComponent(job.id);
      });
      return row;
    }));
    $("jobs-empty").hidden = state.jobs.length > 0;
  }

  function markSelected() {
    Array.prototype.forEach.call($("jobs-body").children, function (row) {
      row.classList.toggle("selected", row.getAttribute("data-job-id") === state.jobId);
    });
  }

  // --- the selected job ---

  function select(jobId) {
    if (jobId === state.jobId) return;
    stopStream();
    state.jobId = jobId;
    state.job = null;
    markSelected();
    $("detail-empty").hidden = jobId !== null;
    $("detail").hidden = jobId === null;
    if (jobId === null) return;
    $("job-title").textContent = jobId;
    $("facts").replaceChildren();
    $("checkpoints-body").replaceChildren();
    $("events").replaceChildren();
    resetPoints();
    state.details.last = 0; // a new job's details load at once
    var listed = state.jobs.find(function (job) { return job.id === jobId; });
    if (listed) showJob(listed);
    refreshDetails();
    follow(jobId);
  }

  function showJob(job) {
    if (job.id !== state.jobId) return;
    var previous = state.job;
    state.job = job;
    var facts = [
      ["Status", statusBadge(job.status)],
      ["Model", job.model],
      ["Fine-tuned model", job.fine_tuned_model],
      ["Steps", stepText(job)],
      ["Trained tokens", typeof job.trained_tokens === "number" ? formatNumber(job.trained_tokens) : null],
      ["Created", formatTime(job.created_at)],
      ["Estimated finish", job.estimated_finish ? formatTime(job.estimated_finish) : null],
      ["Finished", job.finished_at ? formatTime(job.finished_at) : null],
      ["Run", job.sous && job.sous.run_id],
      ["Error", job.error && job.error.message]
    ];
    $("facts").replaceChildren.apply($("facts"), facts.flatMap(function (fact) {
      if (fact[1] === null || fact[1] === undefined || fact[1] === "") return [];
      return [el("dt", { text: fact[0] }), el("dd", {}, [typeof fact[1] === "object" ? fact[1] : String(fact[1])])];
    }));
    // The list shows the same job: keep its row in step with the stream.
    var index = state.jobs.findIndex(function (listed) { return listed.id === job.id; });
    if (index >= 0) {
      var listed = state.jobs[index];
      state.jobs[index] = job;
      if (listed.status !== job.status || stepText(listed) !== stepText(job)) renderJobs();
    }
    if (previous === null || previous.status !== job.status || stepText(previous) !== stepText(job)) refreshDetails();
  }

  // Checkpoints and events, at most once every DETAILS_EVERY_MS while the job moves.
  function refreshDetails() {
    var details = state.details;
    if (details.running) { details.again = true; return; }
    var wait = details.last + DETAILS_EVERY_MS - Date.now();
    if (wait > 0) {
      if (details.timer === null) details.timer = setTimeout(function () { details.timer = null; refreshDetails(); }, wait);
      return;
    }
    var jobId = state.jobId;
    if (jobId === null) return;
    details.running = true;
    details.last = Date.now();
    var base = "v1/fine_tuning/jobs/" + encodeURIComponent(jobId);
    Promise.all([api(base + "/checkpoints"), api(base + "/events?limit=100")]).then(function (answers) {
      if (state.jobId !== jobId) return;
      renderCheckpoints(answers[0].data || []);
      renderEvents(answers[1].data || []);
      clearNotice("details");
    }, function (error) {
      if (state.jobId !== jobId) return;
      if (error.status === 404) missing(jobId);
      else failed(error, "Cannot read the job's checkpoints and events", "details");
    }).then(function () {
      details.running = false;
      if (details.again) { details.again = false; refreshDetails(); }
    });
  }

  // A checkpoint's metrics as text: the losses (and accuracies) when it has some, else all.
  function metricsText(metrics, all) {
    var names = Object.keys(metrics || {}).filter(function (name) {
      return name !== "step" && metrics[name] !== null && metrics[name] !== undefined;
    });
    var scores = names.filter(function (name) { return /loss|nll|accuracy/.test(name); });
    var shown = all || scores.length === 0 ? names : scores;
    return shown.map(function (name) { return name + " " + formatNumber(metrics[name]); }).join(" · ");
  }

  function renderCheckpoints(checkpoints) {
    var body = $("checkpoints-body");
    body.replaceChildren.apply(body, checkpoints.map(function (checkpoint) {
      return el("tr", {}, [
        el("td", { text: checkpoint.step_number }),
        el("td", { className: "wrap mono", text: checkpoint.fine_tuned_model_checkpoint || checkpoint.id }),
        el("td", { className: "wrap", text: metricsText(checkpoint.metrics, false), title: metricsText(checkpoint.metrics, true) })
      ]);
    }));
    $("checkpoints-empty").hidden = checkpoints.length > 0;
  }

  function renderEvents(events) {
    var list = $("events");
    list.replaceChildren.apply(list, events.map(function (event) {
      var time = typeof event.created_at === "number" ? new Date(event.created_at * 1000).toLocaleTimeString() : "";
      return el("li", {}, [
        el("span", { className: "time", text: time }),
        el("span", { className: "level-" + event.level, text: event.level }),
        el("span", { className: "wrap", text: event.message })
      ]);
    }));
    $("events-empty").hidden = events.length > 0;
  }

  // The details and the stream both find out; either says it, in the same words.
  function missing(jobId) {
    notice("There is no job " + jobId + " for this key.", "missing");
  }

  // --- the live stream ---

  function stopStream() {
    if (state.stream) state.stream.abort();
    state.stream = null;
  }

  // Server-sent events over fetch: an EventSource cannot send the Authorization header.
  async function readEvents(body, onEvent) {
    var reader = body.pipeThrough(new TextDecoderStream()).getReader();
    var buffer = "";
    var name = "message";
    var data = [];
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) return;
      buffer += chunk.value;
      var lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      lines.forEach(function (line) {
        if (line === "") {
          if (data.length > 0) onEvent(name, data.join("\n"));
          name = "message";
          data = [];
          return;
        }
        if (line.charAt(0) === ":") return; // a keep-alive comment
        var colon = line.indexOf(":");
        var field = colon < 0 ? line : line.slice(0, colon);
        var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      });
    }
  }

  async function follow(jobId) {
    var controller = new AbortController();
    state.stream = controller;
    var ended = false;
    var first = true;
    setConnection("connecting…");
    try {
      var response = await fetch("v1/sous/jobs/" + encodeURIComponent(jobId) + "/stream", {
        headers: { Authorization: "Bearer " + state.key, Accept: "text/event-stream" },
        cache: "no-store",
        signal: controller.signal
      });
      if (response.status === 401) throw new Unauthorized("The server refused this key.");
      if (response.status === 404) {
        // Not this tenant's job, or no job at all: asking again will not change that.
        missing(jobId);
        setConnection("");
        state.stream = null;
        return;
      }
      if (!response.ok || !response.body) throw new Error(response.status + " " + response.statusText);
      setConnection("live");
      clearNotice("stream");
      await readEvents(response.body, function (event, data) {
        if (state.stream !== controller) return;
        if (event === "metrics") {
          // Each connection starts with every point so far: a reconnect replaces what was shown.
          if (first) { first = false; resetPoints(); }
          addPoints(JSON.parse(data));
        } else if (event === "job") {
          showJob(JSON.parse(data));
        } else if (event === "end") {
          ended = true;
          refreshDetails();
        } else if (event === "error") {
          notice(JSON.parse(data).message, "stream");
        }
      });
    } catch (error) {
      if (controller.signal.aborted) return;
      failed(error, "Lost the job's stream", "stream");
    }
    if (state.stream !== controller || state.key === null) return;
    if (ended) {
      setConnection("finished");
      state.stream = null;
      return;
    }
    setConnection("reconnecting…");
    setTimeout(function () {
      if (state.stream === controller) follow(jobId);
    }, RECONNECT_MS);
  }

  // --- the chart ---

  function resetPoints() {
    state.train = new Map();
    state.evals = new Map();
    scheduleRender();
  }

  function addPoints(message) {
    (message.train || []).forEach(function (point) { state.train.set(point.step, point.loss); });
    (message.eval || []).forEach(function (point) { state.evals.set(point.step, point.eval_nll); });
    scheduleRender();
  }

  function scheduleRender() {
    if (state.renderTimer === null) state.renderTimer = setTimeout(renderChart, 100);
  }

  function chartWidth() {
    return Math.max(320, $("chart").clientWidth || $("detail").clientWidth - 32);
  }

  function makeChart() {
    return new uPlot({
      width: chartWidth(),
      height: 320,
      scales: { x: { time: false } },
      axes: [{ label: "step" }, { label: "loss" }],
      series: [
        { label: "step" },
        { label: "train loss", stroke: "#2563eb", width: 1.5, points: { show: false } },
        { label: "eval loss", stroke: "#dc2626", width: 2, spanGaps: true, points: { show: true, size: 6, fill: "#dc2626" } }
      ]
    }, [[], [], []], $("chart"));
  }

  function renderChart() {
    state.renderTimer = null;
    var steps = Array.from(new Set(Array.from(state.train.keys()).concat(Array.from(state.evals.keys()))));
    steps.sort(function (a, b) { return a - b; });
    var data = [
      steps,
      steps.map(function (step) { return state.train.has(step) ? state.train.get(step) : null; }),
      steps.map(function (step) { return state.evals.has(step) ? state.evals.get(step) : null; })
    ];
    if (state.chart === null) state.chart = makeChart();
    state.chart.setData(data);
    $("chart").setAttribute("data-points", String(state.train.size));
    $("chart-empty").hidden = steps.length > 0;
  }

  window.addEventListener("resize", function () {
    if (state.chart !== null) state.chart.setSize({ width: chartWidth(), height: 320 });
  });

  // --- start ---

  function start() {
    $("key-form").hidden = true;
    $("app").hidden = false;
    $("sign-out").hidden = false;
    refreshJobs();
    var job = readHash().job;
    if (job) select(job);
  }

  $("key-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var key = $("key-input").value.trim();
    if (key === "") return;
    $("key-input").value = "";
    sessionStorage.setItem(KEY_STORAGE, key);
    state.key = key;
    start();
  });

  $("sign-out").addEventListener("click", function () { signOut(); });

  window.addEventListener("hashchange", function () {
    var hash = takeHash();
    if (hash.key) {
      stopStream();
      state.key = hash.key;
      state.jobId = null;
      start();
    } else if (state.key !== null) {
      select(hash.job || null);
    }
  });

  takeHash();
  state.key = sessionStorage.getItem(KEY_STORAGE);
  if (state.key) start();
  else signOut("");
})();
`
