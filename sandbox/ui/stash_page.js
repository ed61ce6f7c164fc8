// A stand-in for Stash's UI, for PlexSync's browser tests (see sandbox/stash_ui.py).
//
// It offers window.PluginApi as Stash's ui/v2.5/src/pluginApi.tsx does (React, ReactDOM,
// libraries.Bootstrap, patch.before/instead/after, register, components, Event), loads the
// plugins' JavaScript and CSS from the `plugins` query before rendering (as Stash's
// PluginsLoader does), and renders a scene page whose ScenePage, ScenePage.Tabs and
// ScenePage.TabContent are patchable as in Stash's Scene.tsx. Written for this sandbox.
(function () {
  "use strict";

  var React = window.React;
  var ReactDOM = window.ReactDOM;
  var Bootstrap = window.ReactBootstrap;
  var h = React.createElement;

  // ---- patching (semantics of Stash's src/patch.tsx) -----------------------------------
  var beforeFns = {};
  var insteadFns = {};
  var afterFns = {};
  var components = {};

  function register(table, name, fn) {
    (table[name] = table[name] || []).push(fn);
  }

  // before: returns the arguments for the render; instead: gets the arguments and a
  // `next` that renders with the remaining replacements (or the original); after: gets
  // the arguments and the result, returns the result to use.
  function patchable(name, render) {
    var wrapped = function () {
      var self = this;
      var args = Array.prototype.slice.call(arguments);
      (beforeFns[name] || []).forEach(function (fn) { args = fn.apply(self, args); });
      var chain = insteadFns[name] || [];
      var step = function (index, callArgs) {
        if (index >= chain.length) return render.apply(self, callArgs);
        var next = function () { return step(index + 1, Array.prototype.slice.call(arguments)); };
        return chain[index].apply(self, callArgs.concat([next]));
      };
      var result = step(0, args);
      (afterFns[name] || []).forEach(function (fn) { result = fn.apply(self, args.concat([result])); });
      return result;
    };
    components[name] = wrapped;
    return wrapped;
  }

  function container(name) {
    return patchable(name, function (props) { return h(React.Fragment, null, props.children); });
  }

  var events = new EventTarget();

  window.PluginApi = {
    React: React,
    ReactDOM: ReactDOM,
    GQL: {},
    libraries: { Bootstrap: Bootstrap },
    register: {
      route: function () {},
      component: function (name, fn) { components[name] = fn; return fn; },
    },
    components: components,
    loadableComponents: {},
    utils: { StashService: {}, loadComponents: function () { return Promise.resolve(); } },
    hooks: { useLoadComponents: function () { return false; } },
    patch: {
      before: function (name, fn) { register(beforeFns, name, fn); },
      instead: function (name, fn) { register(insteadFns, name, fn); },
      after: function (name, fn) { register(afterFns, name, fn); },
    },
    Event: events,
  };

  // ---- GraphQL with the page's own session cookie ---------------------------------------
  function graphql(query, variables) {
    return fetch("graphql", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ query: query, variables: variables || {} }),
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    }).then(function (body) {
      if (body.errors && body.errors.length) throw new Error(body.errors[0].message);
      return body.data;
    });
  }

  function loadScript(src) {
    return new Promise(function (resolve) {
      var el = document.createElement("script");
      el.src = src;
      el.onload = resolve;
      el.onerror = resolve;   // Stash carries on when a plugin's script fails to load
      document.head.appendChild(el);
    });
  }

  function loadCSS(href) {
    var el = document.createElement("link");
    el.rel = "stylesheet";
    el.href = href;
    document.head.appendChild(el);
  }

  var loadedPlugins = [];

  function loadPlugins() {
    return graphql("query Plugins { plugins { id enabled requires paths { javascript css } } }")
      .then(function (data) {
        var enabled = (data.plugins || []).filter(function (p) { return p.enabled; });
        loadedPlugins = enabled;
        enabled.forEach(function (p) { (p.paths.css || []).forEach(loadCSS); });
        var scripts = [];
        enabled.forEach(function (p) { scripts = scripts.concat(p.paths.javascript || []); });
        return scripts.reduce(function (done, src) {
          return done.then(function () { return loadScript(src); });
        }, Promise.resolve());
      });
  }

  // ---- the scene page (the parts of Scene.tsx plugins patch) ------------------------------
  var Nav = Bootstrap.Nav;
  var Tab = Bootstrap.Tab;
  var ScenePageTabs = container("ScenePage.Tabs");
  var ScenePageTabContent = container("ScenePage.TabContent");

  var ScenePage = patchable("ScenePage", function (props) {
    var scene = props.scene;
    var active = React.useState("scene-details-panel");
    var files = (scene.files || []).map(function (f) { return h("li", { key: f.path }, f.path); });
    return h("div", { className: "scene-page" },
      h("h3", { className: "scene-header" }, scene.title || "Scene " + scene.id),
      h(Tab.Container, { activeKey: active[0], onSelect: function (k) { if (k) active[1](k); } },
        h("div", null,
          h(Nav, { variant: "tabs", className: "mr-auto" },
            h(ScenePageTabs, props,
              h(Nav.Item, null, h(Nav.Link, { eventKey: "scene-details-panel" }, "Details")),
              h(Nav.Item, null, h(Nav.Link, { eventKey: "scene-file-info-panel" }, "File Info")))),
          h(Tab.Content, null,
            h(ScenePageTabContent, props,
              h(Tab.Pane, { eventKey: "scene-details-panel" }, h("p", null, scene.details || "")),
              h(Tab.Pane, { eventKey: "scene-file-info-panel" }, h("ul", null, files)))))));
  });

  // Settings → Plugins: each plugin's block is a PluginSettings (SettingsPluginsPanel.tsx).
  var PluginSettings = patchable("PluginSettings", function (props) {
    return h("div", { className: "plugin-settings", "data-plugin": props.pluginID },
      h("h5", null, props.pluginID), h("p", { className: "text-muted" }, "(the plugin's settings)"));
  });

  function SettingsPage(props) {
    return h("div", { className: "settings-page" },
      h("h3", null, "Plugins"),
      props.plugins.map(function (p) {
        return h(PluginSettings, { key: p.id, pluginID: p.id, settings: [] });
      }));
  }

  function sceneIdFromLocation() {
    var match = /^\/scenes\/(\d+)/.exec(window.location.pathname);
    return match ? match[1] : null;
  }

  function start() {
    var root = document.getElementById("root");
    var id = sceneIdFromLocation();
    loadPlugins().then(function () {
      if (window.location.pathname === "/settings") {
        ReactDOM.render(h(SettingsPage, { plugins: loadedPlugins }), root);
        return null;
      }
      if (!id) {
        root.textContent = "Open /scenes/<id>";
        return null;
      }
      return graphql("query FindScene($id: ID!) { findScene(id: $id) { id title details files { path } } }",
                     { id: id }).then(function (data) {
        if (!data.findScene) {
          root.textContent = "Scene not found";
          return;
        }
        ReactDOM.render(h(ScenePage, { scene: data.findScene }), root, function () {
          events.dispatchEvent(new CustomEvent("stash:location",
                                               { detail: { data: { location: window.location } } }));
        });
      });
    }).catch(function (error) {
      root.textContent = "Error loading the page: " + error.message;
    });
  }

  start();
})();
