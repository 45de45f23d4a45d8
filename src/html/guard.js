/*
 * consent-gate client guard.
 *
 * consent-gate puts this script before the first script of every page it rewrites, so it runs
 * before any other script. It applies in the browser the decisions the proxy applied to the
 * markup, to what scripts add at run time: elements pointing at a denied host are made inert
 * exactly as the proxy makes them (data-consent-src, type="text/plain", data-consent-category,
 * data-consent-vendor), requests to denied hosts are not sent, and document.cookie /
 * localStorage / sessionStorage writes of denied cookies are dropped.
 *
 * When consent changes in the page (consent-gate's banner, window.consentGate.update(), or the
 * site's consent tool: OneTrust, Cookiebot, Klaro, cookieconsent, IAB TCF), every element made
 * inert for a now-granted category comes alive in document order, and the category is no
 * longer blocked; a category withdrawn has its script-reachable cookies deleted and is blocked
 * again. Google Consent Mode v2 defaults and updates are pushed to dataLayer when configured.
 *
 * The rules arrive as the argument of this function, filled in by the proxy (the same for every
 * visitor of a rule set, so the file is cached for good):
 *   r: [[category, vendor, "host" or "host/path-prefix", ...], ...]  resource rules
 *   a: ["host", ...]                                                   allowed hosts (never blocked)
 *   k: [[category, vendor, [names], [prefixes], [regexes]], ...]       cookie rules
 *   ka: ["name", ...]                                                  cookies never blocked
 *   c: ["functional", ...]                                             categories a visitor decides
 *   e: "/.consent-gate/"                                               the consent endpoint
 *   t: {onetrust: {group: category}, cookiebot: {...}, klaro: {...}, cookieconsent: {...},
 *       tcf: [[category, [all purposes], [any purposes]]]}           consent tools' vocabularies
 *   m: {ad_storage: [categories], ...} or null                         Consent Mode v2 mapping
 *   l: ["createElement", ...], lr: 2048   constructs that fetch, and how near a host they count
 * The visitor's own state comes from the script tag: data-consent-gate-allowed (the categories
 * allowed now) and data-consent-gate-site (the page's registrable domain: hosts of the site
 * itself are blocked only by rules naming a host below it, as on the server).
 *
 * What was stopped is listed in window.consentGate.blocked (for tests and debugging).
 */
(function (cfg) {
  'use strict';
  var w = window, d = document;
  var me = d.currentScript;
  var site = ((me && me.getAttribute('data-consent-gate-site')) || '').toLowerCase();
  var allowed = Object.create(null);   // category -> true while allowed
  ((me && me.getAttribute('data-consent-gate-allowed')) || '').split(/\s+/).forEach(function (c) {
    if (c) allowed[c] = true;
  });
  var hosts = Object.create(null);   // host suffix -> [[pathPrefix, rule]] (longest first)
  var allowHosts = Object.create(null);
  var blocked = [];
  var api = w.consentGate = w.consentGate || {};
  api.blocked = blocked;

  cfg.r.forEach(function (row) {
    var rule = { c: row[0], v: row[1] };
    for (var i = 2; i < row.length; i++) {
      var slash = row[i].indexOf('/');
      var host = slash < 0 ? row[i] : row[i].slice(0, slash);
      var path = slash < 0 ? '' : row[i].slice(slash);
      (hosts[host] = hosts[host] || []).push([path, rule, host]);
    }
  });
  Object.keys(hosts).forEach(function (h) {
    hosts[h].sort(function (x, y) { return y[0].length - x[0].length; });
  });
  cfg.a.forEach(function (h) { allowHosts[h] = true; });

  function suffixes(host) {
    var out = [host];
    var i = host.indexOf('.');
    while (i >= 0) {
      host = host.slice(i + 1);
      if (host) out.push(host);
      i = host.indexOf('.');
    }
    return out;
  }

  function siteOf(host) {
    // The registrable domain as far as the page needs it: the page's own site, or not.
    return site && (host === site || host.slice(-site.length - 1) === '.' + site) ? site : host;
  }

  /* The rule that blocks fetching a URL, or null. */
  function ruleForHost(host, path) {
    host = host.toLowerCase().replace(/\.+$/, '');
    var list = suffixes(host), found = null;
    for (var i = 0; i < list.length; i++) {
      if (allowHosts[list[i]]) return null;
      var entries = hosts[list[i]];
      if (!found && entries) {
        for (var j = 0; j < entries.length; j++) {
          if (path.indexOf(entries[j][0]) === 0) { found = entries[j]; break; }
        }
      }
    }
    if (!found || allowed[found[1].c]) return null;
    if (siteOf(host) === site && found[2].length <= site.length) return null;
    return found[1];
  }

  function ruleFor(url) {
    if (url == null) return null;
    var u;
    try { u = new URL(String(url), d.baseURI); } catch (e) { return null; }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return ruleForHost(u.hostname, u.pathname + u.search);
  }

  /* Host names written in code (a loader snippet), as the proxy reads inline scripts. */
  var HOSTLIKE = /[a-z0-9_-]+(?:\.[a-z0-9_-]+)+(\/[^\s'"`()<>,;\\{}]*)?/gi;
  /* A host named in code counts only near a construct that fetches (as on the server): a
     share link or a settings object that names a vendor fetches nothing. A full URL of a
     script (//host/x.js) counts anywhere: a first-party loader inserts it. */
  function loadsNear(code, at) {
    var near = code.slice(Math.max(0, at - cfg.lr), at + cfg.lr);
    for (var i = 0; i < cfg.l.length; i++) if (near.indexOf(cfg.l[i]) >= 0) return true;
    return false;
  }
  function namesScript(code, at, hostLength) {
    var before = code.slice(Math.max(0, at - 4), at);
    var after = code.slice(at + hostLength, at + hostLength + 512);
    var path = after.split(/['"`?#)\s,;]/)[0].replace(/\\\//g, '/');
    return /(\/\/|\\\/\\\/)$/.test(before) && path.charAt(0) === '/' && /\.js\\?$/.test(path);
  }
  function ruleInCode(code) {
    if (!code) return null;
    HOSTLIKE.lastIndex = 0;
    var m;
    while ((m = HOSTLIKE.exec(code))) {
      var token = m[0], path = m[1] || '';
      var host = token.slice(0, token.length - path.length).replace(/^\.+|\.+$/g, '');
      if (!loadsNear(code, m.index) && !namesScript(code, m.index, token.length - path.length)) continue;
      var rule = ruleForHost(host, path || '/');
      if (rule) return rule;
    }
    return null;
  }

  function note(kind, target, rule) {
    blocked.push({ kind: kind, url: String(target).slice(0, 512), category: rule.c, vendor: rule.v });
  }

  var native = {
    setAttribute: Element.prototype.setAttribute,
    getAttribute: Element.prototype.getAttribute,
    removeAttribute: Element.prototype.removeAttribute
  };

  function label(el, rule) {
    native.setAttribute.call(el, 'data-consent-category', rule.c);
    native.setAttribute.call(el, 'data-consent-vendor', rule.v);
  }

  function parkScript(el, rule) {
    var type = native.getAttribute.call(el, 'type');
    if (type !== null && type !== 'text/plain') native.setAttribute.call(el, 'data-consent-type', type);
    native.setAttribute.call(el, 'type', 'text/plain');
    label(el, rule);
  }

  function isJavaScript(el) {
    var t = native.getAttribute.call(el, 'type');
    if (t === null) return true;
    t = t.trim().toLowerCase();
    return t === '' || t === 'module' || /^(text|application)\/(x-)?(java|ecma)script$/.test(t) ||
      /^text\/javascript1\.[0-5]$/.test(t) || t === 'text/jscript' || t === 'text/livescript';
  }

  /* URL attributes through which each element kind fetches. */
  var FETCHING = { SCRIPT: ['src'], IFRAME: ['src'], IMG: ['src', 'srcset'], SOURCE: ['src', 'srcset'],
    LINK: ['href'], EMBED: ['src'], OBJECT: ['data'], VIDEO: ['src', 'poster'], AUDIO: ['src'] };

  function srcsetRule(value) {
    var parts = String(value).split(',');
    for (var i = 0; i < parts.length; i++) {
      var rule = ruleFor(parts[i].trim().split(/\s+/)[0]);
      if (rule) return rule;
    }
    return null;
  }

  /* The rule that blocks an element attribute's value, or null. */
  function attributeRule(el, name, value) {
    var attrs = FETCHING[el.tagName];
    if (!attrs || attrs.indexOf(name) < 0) return null;
    return name === 'srcset' ? srcsetRule(value) : ruleFor(value);
  }

  /* Makes an element inert if it would fetch or run something denied; true if it did. */
  function neutralize(el) {
    if (!el || el.nodeType !== 1) return false;
    if (native.getAttribute.call(el, 'data-consent-category') !== null) return false;
    var tag = el.tagName, attrs = FETCHING[tag], done = false;
    if (tag === 'SCRIPT' && !isJavaScript(el)) return false;
    if (attrs) {
      for (var i = 0; i < attrs.length; i++) {
        var value = native.getAttribute.call(el, attrs[i]);
        if (value === null) continue;
        var rule = attributeRule(el, attrs[i], value);
        if (!rule) continue;
        native.removeAttribute.call(el, attrs[i]);
        native.setAttribute.call(el, 'data-consent-' + attrs[i], value);
        if (tag === 'SCRIPT') parkScript(el, rule); else label(el, rule);
        note(tag.toLowerCase(), value, rule);
        done = true;
      }
    }
    if (tag === 'SCRIPT' && !done && native.getAttribute.call(el, 'src') === null) {
      var inline = ruleInCode(el.text);
      if (inline) {
        parkScript(el, inline);
        note('inline_script', el.text.slice(0, 120), inline);
        done = true;
      }
    }
    return done;
  }

  function neutralizeTree(node) {
    if (!node) return;
    if (node.nodeType === 1) neutralize(node);
    if (node.querySelectorAll) {
      var inner = node.querySelectorAll('script,iframe,img,source,link,embed,object,video,audio');
      for (var i = 0; i < inner.length; i++) neutralize(inner[i]);
    }
  }

  /* HTML strings (innerHTML, insertAdjacentHTML, document.write) are parsed in an inert
     template first, so nothing in them is fetched before it is checked. */
  function cleanHTML(html) {
    var s = String(html);
    if (s.indexOf('<') < 0) return s;
    var t = d.createElement('template');
    innerHTML.set.call(t, s);
    var found = false;
    var all = t.content.querySelectorAll('script,iframe,img,source,link,embed,object,video,audio');
    for (var i = 0; i < all.length; i++) found = neutralize(all[i]) || found;
    return found ? innerHTML.get.call(t) : s;
  }

  function wrapSetter(proto, prop, check) {
    var desc = proto && Object.getOwnPropertyDescriptor(proto, prop);
    if (!desc || !desc.set) return desc;
    Object.defineProperty(proto, prop, {
      configurable: true, enumerable: desc.enumerable, get: desc.get,
      set: function (value) { if (!check(this, value)) desc.set.call(this, value); }
    });
    return desc;
  }

  /* Property setters: script.src = ..., img.src = ..., new Image().src = ... */
  function guardAttributeProperty(ctor, prop) {
    if (!ctor) return;
    wrapSetter(ctor.prototype, prop, function (el, value) {
      var rule = attributeRule(el, prop, value);
      if (!rule) return false;
      native.setAttribute.call(el, 'data-consent-' + prop, value);
      if (el.tagName === 'SCRIPT') parkScript(el, rule); else label(el, rule);
      note(el.tagName.toLowerCase(), value, rule);
      return true;
    });
  }
  [[w.HTMLScriptElement, 'src'], [w.HTMLIFrameElement, 'src'], [w.HTMLImageElement, 'src'],
   [w.HTMLImageElement, 'srcset'], [w.HTMLSourceElement, 'src'], [w.HTMLSourceElement, 'srcset'],
   [w.HTMLLinkElement, 'href'], [w.HTMLEmbedElement, 'src'], [w.HTMLObjectElement, 'data'],
   [w.HTMLMediaElement, 'src'], [w.HTMLVideoElement, 'poster']].forEach(function (p) {
    guardAttributeProperty(p[0], p[1]);
  });

  /* Inline script text set before insertion is checked when the script is inserted. */
  Element.prototype.setAttribute = function (name, value) {
    var n = String(name).toLowerCase();
    var rule = attributeRule(this, n, value);
    if (rule) {
      native.setAttribute.call(this, 'data-consent-' + n, value);
      if (this.tagName === 'SCRIPT') parkScript(this, rule); else label(this, rule);
      note(this.tagName.toLowerCase(), value, rule);
      return;
    }
    return native.setAttribute.call(this, name, value);
  };

  /* Insertion: appendChild, insertBefore, append, ... check what is inserted. */
  function guardInsertion(proto, names) {
    names.forEach(function (name) {
      var original = proto[name];
      if (typeof original !== 'function') return;
      proto[name] = function () {
        for (var i = 0; i < arguments.length; i++) {
          if (arguments[i] && typeof arguments[i] === 'object') neutralizeTree(arguments[i]);
        }
        return original.apply(this, arguments);
      };
    });
  }
  guardInsertion(Node.prototype, ['appendChild', 'insertBefore', 'replaceChild']);
  guardInsertion(Element.prototype, ['append', 'prepend', 'before', 'after', 'replaceWith',
    'insertAdjacentElement', 'replaceChildren']);
  if (w.DocumentFragment) guardInsertion(DocumentFragment.prototype, ['append', 'prepend', 'replaceChildren']);

  /* HTML string sinks. */
  var innerHTML = Object.getOwnPropertyDescriptor(Element.prototype, 'innerHTML');
  wrapSetter(Element.prototype, 'innerHTML', function (el, value) {
    innerHTML.set.call(el, cleanHTML(value));
    return true;
  });
  wrapSetter(Element.prototype, 'outerHTML', (function () {
    var outer = Object.getOwnPropertyDescriptor(Element.prototype, 'outerHTML');
    return function (el, value) { outer.set.call(el, cleanHTML(value)); return true; };
  })());
  var insertAdjacentHTML = Element.prototype.insertAdjacentHTML;
  Element.prototype.insertAdjacentHTML = function (where, html) {
    return insertAdjacentHTML.call(this, where, cleanHTML(html));
  };
  ['write', 'writeln'].forEach(function (name) {
    var original = d[name];
    d[name] = function () {
      var parts = [];
      for (var i = 0; i < arguments.length; i++) parts.push(cleanHTML(arguments[i]));
      return original.apply(d, parts);
    };
  });
  if (w.Range && Range.prototype.createContextualFragment) {
    var ccf = Range.prototype.createContextualFragment;
    Range.prototype.createContextualFragment = function (html) {
      return ccf.call(this, cleanHTML(html));
    };
  }

  /* Network: fetch, XMLHttpRequest, sendBeacon. */
  var nativeFetch = w.fetch;
  if (w.fetch) {
    var fetch = w.fetch;
    w.fetch = function (input, init) {
      var url = input && typeof input === 'object' && 'url' in input ? input.url : input;
      var rule = ruleFor(url);
      if (rule) {
        note('fetch', url, rule);
        return Promise.reject(new TypeError('consent-gate: blocked without consent'));
      }
      return fetch.apply(this, arguments);
    };
  }
  if (w.XMLHttpRequest) {
    var open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
    var pending = new WeakMap();
    XMLHttpRequest.prototype.open = function (method, url) {
      var rule = ruleFor(url);
      if (rule) pending.set(this, [url, rule]); else pending.delete(this);
      return open.apply(this, arguments);
    };
    XMLHttpRequest.prototype.send = function () {
      var hit = pending.get(this);
      if (hit) {
        note('xhr', hit[0], hit[1]);
        var xhr = this;
        setTimeout(function () { xhr.dispatchEvent(new Event('error')); }, 0);
        return;
      }
      return send.apply(this, arguments);
    };
  }
  if (w.navigator && navigator.sendBeacon) {
    var beacon = navigator.sendBeacon;
    navigator.sendBeacon = function (url) {
      var rule = ruleFor(url);
      if (rule) { note('beacon', url, rule); return true; }
      return beacon.apply(navigator, arguments);
    };
  }

  /* Cookies and storage keys of denied cookie rules. */
  var keepCookie = Object.create(null);
  cfg.ka.forEach(function (n) { keepCookie[n] = true; });
  var exact = Object.create(null), prefixes = [], regexes = [];
  cfg.k.forEach(function (row) {
    var rule = { c: row[0], v: row[1] };
    row[2].forEach(function (n) { exact[n] = rule; });
    row[3].forEach(function (p) { prefixes.push([p, rule]); });
    row[4].forEach(function (x) { try { regexes.push([new RegExp(x), rule]); } catch (e) { /* not JS syntax */ } });
  });
  prefixes.sort(function (x, y) { return y[0].length - x[0].length; });
  /* The cookie rule that classifies a name (whatever the consent), or null. */
  function classifyCookie(name) {
    if (keepCookie[name]) return null;
    if (exact[name]) return exact[name];
    for (var i = 0; i < prefixes.length; i++) if (name.indexOf(prefixes[i][0]) === 0) return prefixes[i][1];
    for (var j = 0; j < regexes.length; j++) if (regexes[j][0].test(name)) return regexes[j][1];
    return null;
  }
  /* The rule that denies a cookie now, or null. */
  function cookieRule(name) {
    var rule = classifyCookie(name);
    return rule && !allowed[rule.c] ? rule : null;
  }
  api.cookieRule = cookieRule;
  var cookie = Object.getOwnPropertyDescriptor(Document.prototype, 'cookie');
  if (cookie && cookie.set) {
    Object.defineProperty(d, 'cookie', {
      configurable: true, enumerable: true,
      get: function () { return cookie.get.call(d); },
      set: function (value) {
        var s = String(value), eq = s.indexOf('=');
        var name = (eq < 0 ? '' : s.slice(0, eq)).trim();
        var expiring = /;\s*(max-age\s*=\s*(0|-)|expires\s*=\s*[^;]*19[0-9]{2})/i.test(s);
        var rule = !expiring && cookieRule(name);
        if (rule) { note('cookie', name, rule); return; }
        cookie.set.call(d, value);
      }
    });
  }
  if (w.Storage) {
    var setItem = Storage.prototype.setItem;
    Storage.prototype.setItem = function (key, value) {
      var rule = cookieRule(String(key));
      if (rule) { note('storage', key, rule); return; }
      return setItem.apply(this, arguments);
    };
  }


  /* ---- Consent changes in the page ---- */

  var categories = cfg.c || [];
  var tools = cfg.t || {};
  var nativeCreate = Document.prototype.createElement;
  var nativeInsertBefore = Node.prototype.insertBefore;

  function state() {
    var out = { necessary: true };
    categories.forEach(function (c) { out[c] = !!allowed[c]; });
    return out;
  }

  /* Consent Mode v2: each Google consent type is granted when all its categories are. */
  var dataLayer = null;
  function consentMode(kind) {
    if (!cfg.m) return;
    dataLayer = w.dataLayer = w.dataLayer || [];
    var types = {};
    Object.keys(cfg.m).forEach(function (type) {
      types[type] = cfg.m[type].every(function (c) { return allowed[c]; }) ? 'granted' : 'denied';
    });
    (function () { dataLayer.push(arguments); })('consent', kind, types);
  }
  consentMode('default');

  /* Brings one inert element back, as the README's re-activation recipe says. */
  function revive(el) {
    if (el.tagName === 'SCRIPT') {
      if (native.getAttribute.call(el, 'type') !== 'text/plain') return;
      var s = nativeCreate.call(d, 'script');
      for (var i = 0; i < el.attributes.length; i++) {
        var a = el.attributes[i];
        if (a.name === 'type' || a.name.indexOf('data-consent-') === 0) continue;
        native.setAttribute.call(s, a.name, a.value);
      }
      var type = native.getAttribute.call(el, 'data-consent-type');
      if (type) native.setAttribute.call(s, 'type', type);
      var src = native.getAttribute.call(el, 'data-consent-src');
      if (src !== null) {
        s.async = el.hasAttribute('async');
        native.setAttribute.call(s, 'src', src);
      } else {
        s.text = el.text;
      }
      if (el.nonce) s.nonce = el.nonce;
      nativeInsertBefore.call(el.parentNode, s, el.nextSibling);
      el.parentNode.removeChild(el);
      return;
    }
    var names = [];
    for (var j = 0; j < el.attributes.length; j++) names.push(el.attributes[j].name);
    names.forEach(function (name) {
      if (name.indexOf('data-consent-') !== 0) return;
      var original = name.slice('data-consent-'.length);
      var value = native.getAttribute.call(el, name);
      native.removeAttribute.call(el, name);
      if (original === 'category' || original === 'vendor' || original === 'type') return;
      if (original === 'placeholder') { native.removeAttribute.call(el, 'srcdoc'); return; }
      native.setAttribute.call(el, original, value);
    });
  }

  /* Deletes the cookies of a category that scripts can reach, on every path and domain a page of
     this site could have set them with. */
  function deleteCookies(category) {
    var names = cookie.get.call(d).split(';').map(function (c) { return c.split('=')[0].trim(); });
    var host = location.hostname;
    var domains = ['', '; domain=' + host];
    if (site && site !== host) domains.push('; domain=.' + site);
    var paths = ['/'];
    var parts = location.pathname.split('/');
    for (var i = 2; i <= parts.length; i++) paths.push(parts.slice(0, i).join('/') || '/');
    names.forEach(function (name) {
      var rule = classifyCookie(name);
      if (!rule || rule.c !== category) return;
      domains.forEach(function (dom) {
        paths.forEach(function (p) {
          cookie.set.call(d, name + '=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; path=' + p + dom);
        });
      });
    });
  }

  function persist() {
    if (!cfg.e || !nativeFetch) return;
    var body = categories.map(function (c) { return encodeURIComponent(c) + '=' + (allowed[c] ? '1' : '0'); });
    var token = api.token ? '&token=' + encodeURIComponent(api.token) : '';
    nativeFetch.call(w, cfg.e + 'consent', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: body.join('&') + token
    }).catch(function () { /* the next page view asks again */ });
  }

  /* Applies a new choice: {category: true|false, ...}; categories not named keep their state. */
  function update(choice, options) {
    var granted = [], withdrawn = [];
    categories.forEach(function (c) {
      if (!choice || !(c in choice)) return;
      var now = !!choice[c];
      if (now && !allowed[c]) granted.push(c);
      if (!now && allowed[c]) withdrawn.push(c);
      if (now) allowed[c] = true; else delete allowed[c];
    });
    if (!options || options.persist !== false) persist();
    if (granted.length || withdrawn.length) consentMode('update');
    withdrawn.forEach(deleteCookies);
    if (granted.length) {
      var inert = d.querySelectorAll('[data-consent-category]');
      for (var i = 0; i < inert.length; i++) {
        if (allowed[native.getAttribute.call(inert[i], 'data-consent-category')]) revive(inert[i]);
      }
    }
    hide();
    w.dispatchEvent(new CustomEvent('consent-gate:change', { detail: state() }));
    return state();
  }

  function banner() { return d.querySelector('[data-consent-gate-banner]'); }
  function show() {
    var b = banner();
    if (!b) { location.href = (cfg.e || '/') + 'settings?return=' + encodeURIComponent(location.pathname + location.search); return; }
    b.hidden = false;
    var first = b.querySelector('button, input, a[href]');
    if (first) first.focus();
  }
  function hide() { var b = banner(); if (b) b.hidden = true; }

  api.get = state;
  api.update = function (choice) { return update(choice); };
  api.show = show;
  api.hide = hide;

  /* The banner's form works without JavaScript (it posts to the consent endpoint); with it, the
     choice applies in place. */
  d.addEventListener('submit', function (e) {
    var form = e.target;
    if (!form || !form.hasAttribute || !form.hasAttribute('data-consent-gate-form')) return;
    e.preventDefault();
    var button = e.submitter;
    var choice = {};
    var all = button && button.name === 'accept' ? true : button && button.name === 'reject' ? false : null;
    categories.forEach(function (c) {
      var box = form.elements[c];
      choice[c] = all === null ? !!(box && box.checked) : all;
    });
    update(choice);
  }, true);
  d.addEventListener('keydown', function (e) {
    var b = banner();
    if (e.key === 'Escape' && b && !b.hidden) hide();
  });

  /* The site's own consent tool: its events and its vocabulary. */
  /* A tool's choice in categories: with `any`, one granted name grants its category (OneTrust
     lists only active groups; cookieconsent lists accepted names), otherwise all must be (Klaro
     services), as the proxy reads the same tools' cookies. */
  function fromMap(map, isGranted, any) {
    var choice = {};
    Object.keys(map || {}).forEach(function (key) {
      var c = map[key];
      if (categories.indexOf(c) < 0) return;
      var g = isGranted(key);
      if (g === undefined) return;
      choice[c] = c in choice ? (any ? choice[c] || g : choice[c] && g) : g;
    });
    return choice;
  }
  function fromTool(choice) { update(choice, { persist: false }); }
  w.addEventListener('OneTrustGroupsUpdated', function () {
    var active = String(w.OnetrustActiveGroups || '');
    fromTool(fromMap(tools.onetrust, function (g) { return active.indexOf(',' + g + ',') >= 0; }, true));
  });
  function fromCookiebot() {
    var c = w.Cookiebot && w.Cookiebot.consent;
    if (c) fromTool(fromMap(tools.cookiebot, function (k) { return !!c[k]; }));
  }
  w.addEventListener('CookiebotOnAccept', fromCookiebot);
  w.addEventListener('CookiebotOnDecline', fromCookiebot);
  function fromCookieConsent() {
    var cc = w.CookieConsent;
    var prefs = cc && cc.getUserPreferences && cc.getUserPreferences();
    var accepted = (prefs && prefs.acceptedCategories) || [];
    fromTool(fromMap(tools.cookieconsent, function (k) { return accepted.indexOf(k) >= 0; }, true));
  }
  w.addEventListener('cc:onConsent', fromCookieConsent);
  w.addEventListener('cc:onChange', fromCookieConsent);
  w.addEventListener('load', function () {
    var k = w.klaro && w.klaro.getManager && w.klaro.getManager();
    if (k && k.watch) {
      k.watch({ update: function (manager, name) {
        if (name !== 'saveConsents' && name !== 'consents') return;
        fromTool(fromMap(tools.klaro, function (s) { return manager.consents ? !!manager.consents[s] : undefined; }));
      } });
    }
    if (typeof w.__tcfapi === 'function' && tools.tcf) {
      w.__tcfapi('addEventListener', 2, function (tc, ok) {
        if (!ok || !tc || (tc.eventStatus !== 'useractioncomplete' && tc.eventStatus !== 'tcloaded')) return;
        var consents = (tc.purpose && tc.purpose.consents) || {};
        var choice = {};
        tools.tcf.forEach(function (req) {
          var all = req[1].every(function (p) { return consents[p]; });
          var any = !req[2].length || req[2].some(function (p) { return consents[p]; });
          choice[req[0]] = all && any;
        });
        fromTool(choice);
      });
    }
  });

  /* Elements the parser creates from the page itself were checked by the proxy; anything that
     still slips in (a parser-created element from a document.write the guard did not see) is
     caught as it is added. */
  if (w.MutationObserver) {
    new MutationObserver(function (records) {
      records.forEach(function (r) {
        for (var i = 0; i < r.addedNodes.length; i++) neutralizeTree(r.addedNodes[i]);
      });
    }).observe(d.documentElement, { childList: true, subtree: true });
  }
})(__CONSENT_GATE_CONFIG__);
