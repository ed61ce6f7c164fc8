// PlexSync in Stash's UI: a "Plex" tab on every scene page.
//
// Stash loads this file (plexsync.yml `ui.javascript`) into its own page, where
// window.PluginApi offers React, react-bootstrap and patch.after on named components. The
// tab asks the plugin's Python side through GraphQL `runPluginOperation` (modes ui_scene,
// ui_sync_now, ui_status; see plugin/ui_operations.py), with the page's own session cookie,
// so it works with Stash's login on and needs no setting. The Plex token never reaches the
// browser: the plugin answers facts and an Open-in-Plex link built from the server's
// machine identifier.
(function () {
  "use strict";

  var api = window.PluginApi;
  if (!api || !api.React || !api.patch) return;
  var React = api.React;
  var h = React.createElement;
  var Bootstrap = api.libraries.Bootstrap;
  var Nav = Bootstrap.Nav;
  var Tab = Bootstrap.Tab;
  var Button = Bootstrap.Button;

  var PLUGIN_ID = "plexsync";
  var TAB_KEY = "plexsync-panel";
  var OPERATION = "mutation PlexSyncOperation($plugin_id: ID!, $args: Map) " +
                  "{ runPluginOperation(plugin_id: $plugin_id, args: $args) }";

  // Relative to the page's <base>: works when Stash is served under a path prefix.
  function operation(args) {
    return fetch("graphql", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ operationName: "PlexSyncOperation", query: OPERATION,
                             variables: { plugin_id: PLUGIN_ID, args: args } }),
    }).then(function (response) {
      if (!response.ok) throw new Error("Stash answered HTTP " + response.status);
      return response.json();
    }).then(function (body) {
      if (body.errors && body.errors.length) throw new Error(body.errors[0].message);
      return body.data.runPluginOperation;
    });
  }

  // ---- formatting ------------------------------------------------------------------------
  function clock(epoch) {
    return epoch ? new Date(epoch * 1000).toLocaleString() : "never";
  }

  function ago(epoch, now) {
    if (!epoch) return "never";
    var seconds = Math.round((now || Date.now() / 1000) - epoch);
    if (seconds < 0) return "in " + duration(-seconds);
    return duration(seconds) + " ago";
  }

  function duration(seconds) {
    if (seconds < 60) return seconds + " s";
    if (seconds < 3600) return Math.round(seconds / 60) + " min";
    if (seconds < 86400) return (seconds / 3600).toFixed(1) + " h";
    return (seconds / 86400).toFixed(1) + " d";
  }

  function position(ms) {
    if (ms == null) return "—";
    var total = Math.floor(ms / 1000);
    var hours = Math.floor(total / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    var seconds = String(total % 60).padStart(2, "0");
    return (hours ? hours + ":" + String(minutes).padStart(2, "0") : minutes) + ":" + seconds;
  }

  // ---- what each state says ------------------------------------------------------------
  var STATE_LABELS = {
    matched: "Matched",
    unmatched: "Not found in Plex",
    queued: "Queued",
    retry_waiting: "Waiting to retry",
    dead_lettered: "Failed (dead-letter queue)",
    never_synced: "Not synced yet",
  };

  function stateDetail(data) {
    var queued = data.queued;
    var dead = data.dead_letter;
    switch (data.state) {
      case "matched":
        return "Written to Plex " + ago(data.synced_at, data.now) + ".";
      case "unmatched":
        var reason = data.miss || "Plex has no item for this scene's file";
        return reason.replace(/\.?$/, ".") + (queued ? " Next try at " + clock(queued.due_at) + "." : "");
      case "queued":
        return data.drain_running ? "A sync is running and will take it."
                                  : "It syncs with the next run of 'Process queue'.";
      case "retry_waiting":
        return "Attempt " + (queued.retry_count + 1) + " at " + clock(queued.due_at) +
               (queued.last_error_type ? " (last error: " + queued.last_error_type + ")" : "") + ".";
      case "dead_lettered":
        return dead.error_type + ": " + dead.message + " (failed " + ago(dead.failed_at, data.now) +
               "; Sync now tries again).";
      default:
        return "PlexSync has not written this scene to Plex yet.";
    }
  }

  function row(label, value, testId) {
    return [h("dt", { key: label + "-t", className: "col-sm-3" }, label),
            h("dd", { key: label + "-d", className: "col-sm-9", "data-testid": testId }, value)];
  }

  // ---- the status card -------------------------------------------------------------------
  function StatusCard(props) {
    var s = props.status;
    if (!s) return h("div", { className: "plexsync-status", "data-testid": "plexsync-status" }, "Status…");
    var plex = s.plex || {};
    var queue = s.queue || {};
    var dlq = 0;
    Object.keys(s.dlq || {}).forEach(function (k) { dlq += s.dlq[k]; });
    var drain = (s.stats || {}).last_drain || {};
    var parts = [
      h("span", { key: "plex", className: plex.reachable ? "plexsync-ok" : "plexsync-bad",
                  "data-testid": "plexsync-status-plex" },
        s.config_error ? "Settings: " + s.config_error
          : plex.reachable ? "Plex: " + plex.name + " (" + plex.version + "), " + plex.latency_ms + " ms"
            : "Plex unreachable: " + (plex.error || "unknown")),
      h("span", { key: "breaker", "data-testid": "plexsync-status-breaker" },
        "Circuit: " + ((s.breaker || {}).state || "closed")),
      h("span", { key: "queue", "data-testid": "plexsync-status-queue" },
        queue.error ? "Queue unreadable" : "Queue: " + (queue.ready || 0) + " ready, " + (queue.waiting || 0) +
          " waiting"),
      h("span", { key: "dlq", "data-testid": "plexsync-status-dlq" }, "Dead-letter: " + dlq),
      h("span", { key: "drain", "data-testid": "plexsync-status-drain" },
        "Last drain: " + (drain.at ? ago(drain.at, s.now) : "never") + (s.drain_running ? " (running now)" : "")),
    ];
    return h("div", { className: "plexsync-status", "data-testid": "plexsync-status" }, parts);
  }

  // ---- the panel -------------------------------------------------------------------------
  function PlexPanel(props) {
    var sceneId = String(props.sceneId);
    var scene = React.useState(null);
    var status = React.useState(null);
    var busy = React.useState("");
    var message = React.useState(null);
    var failure = React.useState(null);

    function load(compare) {
      busy[1](compare ? "compare" : "load");
      failure[1](null);
      var args = { mode: "ui_scene", scene_id: sceneId };
      if (compare) args.compare = "true";
      return Promise.all([
        operation(args).then(scene[1]),
        operation({ mode: "ui_status" }).then(status[1]),
      ]).catch(function (error) { failure[1](error.message); })
        .then(function () { busy[1](""); });
    }

    function syncNow() {
      busy[1]("sync");
      failure[1](null);
      message[1](null);
      operation({ mode: "ui_sync_now", scene_id: sceneId }).then(function (answer) {
        scene[1](answer.scene);
        message[1](answer.message);
        return operation({ mode: "ui_status" }).then(status[1]);
      }).catch(function (error) { failure[1](error.message); })
        .then(function () { busy[1](""); });
    }

    React.useEffect(function () { load(false); }, [sceneId]);

    var data = scene[0];
    var body = [];
    if (failure[0]) {
      body.push(h("div", { key: "fail", className: "alert alert-danger", "data-testid": "plexsync-error" },
                  failure[0]));
    }
    if (data) {
      body.push(h("div", { key: "state", className: "plexsync-state plexsync-state--" + data.state,
                           "data-testid": "plexsync-state", "data-state": data.state },
        h("strong", null, STATE_LABELS[data.state] || data.state),
        h("span", { className: "plexsync-state-detail", "data-testid": "plexsync-state-detail" },
          " " + stateDetail(data))));
      if (data.config_error) {
        body.push(h("div", { key: "config", className: "alert alert-warning", "data-testid": "plexsync-config" },
                    data.config_error));
      } else if (data.plex && !data.plex.reachable) {
        body.push(h("div", { key: "down", className: "alert alert-warning", "data-testid": "plexsync-unreachable" },
                    "Plex unreachable: " + data.plex.error));
      }
      var rows = [];
      var item = data.item;
      if (item) {
        rows = rows.concat(row("Library", item.library, "plexsync-library"),
                           row("Plex title", item.title, "plexsync-title"),
                           row("File", item.files.join("\n"), "plexsync-file"),
                           row("Rating key", item.rating_key, "plexsync-rating-key"));
      } else if (data.rating_key) {
        rows = rows.concat(row("Rating key", data.rating_key, "plexsync-rating-key"));
        if (data.item_missing) rows = rows.concat(row("Plex item", "no longer in Plex", "plexsync-item-missing"));
      }
      if (data.synced_at) rows = rows.concat(row("Last synced", clock(data.synced_at), "plexsync-synced-at"));
      if (data.collections && data.collections.length) {
        rows = rows.concat(row("Collections", data.collections.join(", "), "plexsync-collections"));
      }
      if (data.watch) {
        rows = rows.concat(row("Plex plays", String(data.watch.view_count), "plexsync-plays"),
                           row("Resume at", position(data.watch.view_offset_ms), "plexsync-resume"));
      }
      if (rows.length) body.push(h("dl", { key: "facts", className: "row plexsync-facts" }, rows));
      if (data.compare) {
        var c = data.compare;
        var lines = c.error ? [c.error]
          : c.changes && c.changes.length ? c.changes
            : c.outcome === "would_fail" ? [c.error] : ["Plex shows what Stash has."];
        body.push(h("div", { key: "compare", className: "plexsync-compare", "data-testid": "plexsync-compare" },
          h("strong", null, "Differences now"),
          h("ul", null, lines.map(function (line, i) { return h("li", { key: i }, line); }))));
      }
    } else if (!failure[0]) {
      body.push(h("div", { key: "loading", className: "plexsync-loading" }, "Asking PlexSync…"));
    }
    if (message[0]) {
      body.push(h("div", { key: "msg", className: "alert alert-info", "data-testid": "plexsync-message" },
                  message[0]));
    }
    var buttons = h("div", { className: "plexsync-buttons" },
      h(Button, { variant: "primary", size: "sm", disabled: !!busy[0], onClick: syncNow,
                  "data-testid": "plexsync-sync-now" }, busy[0] === "sync" ? "Syncing…" : "Sync now"),
      data && data.open_url
        ? h("a", { className: "btn btn-secondary btn-sm", href: data.open_url, target: "_blank",
                   rel: "noopener noreferrer", "data-testid": "plexsync-open" }, "Open in Plex")
        : null,
      h(Button, { variant: "secondary", size: "sm", disabled: !!busy[0], onClick: function () { load(true); },
                  "data-testid": "plexsync-compare-button" }, busy[0] === "compare" ? "Comparing…" : "Compare"),
      h(Button, { variant: "secondary", size: "sm", disabled: !!busy[0], onClick: function () { load(false); },
                  "data-testid": "plexsync-refresh" }, "Refresh"));
    return h("div", { className: "plexsync-panel", "data-testid": "plexsync-panel",
                      "data-busy": busy[0] || "" },
      h(StatusCard, { status: status[0] }), buttons, body);
  }

  // The status card alone, for the plugin's block in Settings → Plugins.
  function StatusLoader() {
    var status = React.useState(null);
    var failure = React.useState(null);
    React.useEffect(function () {
      operation({ mode: "ui_status" }).then(status[1]).catch(function (error) { failure[1](error.message); });
    }, []);
    if (failure[0]) {
      return h("div", { className: "alert alert-danger", "data-testid": "plexsync-error" }, failure[0]);
    }
    return h(StatusCard, { status: status[0] });
  }

  api.register.component("plugin-plexsync-panel", PlexPanel);

  // An after-patch gets the render's arguments, then the result. React calls a function
  // component with more than the props (how many is React's business), so the result is
  // taken as the last argument, never by position.
  function afterRender(add) {
    return function () {
      var props = arguments[0] || {};
      var result = arguments[arguments.length - 1];
      return [h(React.Fragment, { key: "stash" }, result), add(props)];
    };
  }

  api.patch.after("ScenePage.Tabs", afterRender(function () {
    return h(Nav.Item, { key: TAB_KEY }, h(Nav.Link, { eventKey: TAB_KEY }, "Plex"));
  }));

  api.patch.after("PluginSettings", afterRender(function (props) {
    return props.pluginID === PLUGIN_ID
      ? h("div", { key: "plexsync-status", className: "plexsync-settings-status" }, h(StatusLoader))
      : null;
  }));

  // mountOnEnter: the plugin runs only once the tab is opened, not on every scene page view.
  api.patch.after("ScenePage.TabContent", afterRender(function (props) {
    return h(Tab.Pane, { key: TAB_KEY, eventKey: TAB_KEY, mountOnEnter: true },
             props.scene ? h(PlexPanel, { sceneId: props.scene.id }) : null);
  }));
})();
