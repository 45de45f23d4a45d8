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
 * The decisions arrive as the argument of this function, filled in by the proxy:
 *   r: [[category, vendor, "host" or "host/path-prefix", ...], ...]  denied resource rules
 *   a: ["host", ...]                                                   allowed hosts (never blocked)
 *   k: [[category, vendor, [names], [prefixes], [regexes]], ...]       denied cookie rules
 *   ka: ["name", ...]                                                  cookies never blocked
 * The page's registrable domain comes from the script tag's data-consent-gate-site attribute:
 * hosts of the site itself are blocked only by rules naming a host below it, as on the server.
 *
 * What was stopped is listed in window.consentGate.blocked (for tests and debugging).
 */
(function (cfg) {
  'use strict';
  var w = window, d = document;
  var me = d.currentScript;
  var site = ((me && me.getAttribute('data-consent-gate-site')) || '').toLowerCase();
  var hosts = Object.create(null);   // host suffix -> [[pathPrefix, rule]] (longest first)
  var allowed = Object.create(null);
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
  cfg.a.forEach(function (h) { allowed[h] = true; });

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
      if (allowed[list[i]]) return null;
      var entries = hosts[list[i]];
      if (!found && entries) {
        for (var j = 0; j < entries.length; j++) {
          if (path.indexOf(entries[j][0]) === 0) { found = entries[j]; break; }
        }
      }
    }
    if (!found) return null;
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
  function ruleInCode(code) {
    if (!code) return null;
    HOSTLIKE.lastIndex = 0;
    var m;
    while ((m = HOSTLIKE.exec(code))) {
      var token = m[0], path = m[1] || '';
      var host = token.slice(0, token.length - path.length).replace(/^\.+|\.+$/g, '');
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
  function cookieRule(name) {
    if (keepCookie[name]) return null;
    if (exact[name]) return exact[name];
    for (var i = 0; i < prefixes.length; i++) if (name.indexOf(prefixes[i][0]) === 0) return prefixes[i][1];
    for (var j = 0; j < regexes.length; j++) if (regexes[j][0].test(name)) return regexes[j][1];
    return null;
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
