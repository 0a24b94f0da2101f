/*
 * Orderflow storefront — plain ES2020, no framework, no build step.
 *
 * Flow: catalog (GET /api/products) → cart (localStorage "orderflow.cart", {productId: qty})
 * → checkout (POST /api/orders with one Idempotency-Key per attempt) → order status view
 * (polls GET /api/orders/{id} with the order's bearer token) → PDF receipt (fetch → blob).
 * Placed orders are remembered in localStorage "orderflow.orders"; `#order=<id>` opens one.
 */
'use strict';

const CART_KEY = 'orderflow.cart';
const ORDERS_KEY = 'orderflow.orders';
const CUSTOMER_KEY = 'orderflow.customerId';
const POLL_MS = 700;
const MAX_QTY = 100;
const MAX_ORDERS = 20;
const MAX_IN_FLIGHT_RETRIES = 10;
// Stop polling: final, or (on invoice) waiting for a payment only the shop can record.
const TERMINAL = new Set(['COMPLETED', 'FAILED', 'AWAITING_PAYMENT']);
const FORM_FIELDS = ['name', 'email', 'line1', 'city', 'postalCode', 'country', 'card'];
const REQUIRED = { name: 'Please enter your name.', email: 'Please enter your email address.',
  line1: 'Please enter a street address.', city: 'Please enter a city.',
  postalCode: 'Please enter a postal code.', country: 'Please enter a country code, e.g. US.' };
const FIELD_MAP = {
  customerEmail: 'email', 'shippingAddress.name': 'name', 'shippingAddress.line1': 'line1',
  'shippingAddress.city': 'city', 'shippingAddress.postalCode': 'postalCode',
  'shippingAddress.country': 'country', payment: 'card', 'payment.cardNumber': 'card',
};
const FAILURE_TEXT = {
  OUT_OF_STOCK: 'Sorry, one of the items is out of stock. You have not been charged.',
  PAYMENT_DECLINED: 'Your card was declined. Nothing was charged and your items were released.',
  PAYMENT_OVERDUE: 'The payment did not arrive in time, so the items were released.',
};
const BUSY_TEXT = 'The shop is busy, try again in a moment.';

const state = {
  products: new Map(), // productId → product
  attemptKey: null, // Idempotency-Key of the current checkout attempt (null = make a new one)
  submitting: false,
  view: { orderId: null, token: null, receiptUrl: null, status: null, timer: null, gen: 0 },
};

/* ---------- helpers ---------- */

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  node.append(...children.filter((child) => child != null));
  return node;
}

function loadJSON(key, fallback) {
  try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch { return fallback; }
}

function saveJSON(key, value) {
  try { localStorage.setItem(key, JSON.stringify(value)); } catch { /* storage unavailable */ }
}

function randomId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // randomUUID needs a secure context
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function customerId() {
  let id = loadJSON(CUSTOMER_KEY, null);
  if (typeof id !== 'string' || !id) {
    id = `web-${randomId()}`;
    saveJSON(CUSTOMER_KEY, id);
  }
  return id;
}

const formatters = new Map();
function formatMinor(amount, currency = 'USD') {
  if (!formatters.has(currency)) {
    formatters.set(currency, new Intl.NumberFormat(undefined, { style: 'currency', currency }));
  }
  const fmt = formatters.get(currency);
  return fmt.format(amount / 10 ** fmt.resolvedOptions().maximumFractionDigits);
}
const formatMoney = (money) => (money ? formatMinor(money.amount, money.currency) : '');

function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso ?? '') : date.toLocaleString();
}

async function api(path, { method = 'GET', body, headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init); // rejects only on network failure
  let data = null;
  try { data = await res.json(); } catch { /* empty or non-JSON body */ }
  return { ok: res.ok, status: res.status, data };
}

function errorOf(resp) {
  const err = resp.data && resp.data.error;
  return err && err.message ? err : { code: `HTTP_${resp.status}`, message: `Request failed (HTTP ${resp.status}).` };
}

const bearer = (token) => ({ Authorization: `Bearer ${token}` });

/* ---------- catalog ---------- */

async function loadProducts() {
  const status = $('products-status');
  status.textContent = 'Loading products…';
  try {
    const resp = await api('/api/products');
    if (!resp.ok) throw new Error(errorOf(resp).message);
    state.products = new Map((resp.data.products || []).map((p) => [p.productId, p]));
    status.textContent = state.products.size ? '' : 'No products are available right now.';
  } catch {
    status.textContent = 'Could not load products. ';
    status.append(el('button', { type: 'button', class: 'link-button', text: 'Retry', onclick: loadProducts }));
  }
  renderProducts();
  renderCart();
}

function renderProducts() {
  $('products').replaceChildren(...[...state.products.values()].map(productCard));
}

function productCard(p) {
  const inStock = p.stock > 0;
  return el('li', { class: 'product', 'data-testid': `product-${p.productId}` },
    el('h3', { id: `name-${p.productId}`, text: p.name }),
    el('p', { class: 'description', text: p.description }),
    el('p', { class: 'price', text: formatMoney(p.unitPrice) }),
    el('p', { class: inStock ? 'stock' : 'stock stock-out', text: inStock ? `${p.stock} in stock` : 'Out of stock' }),
    el('button', { type: 'button', class: 'primary', 'data-testid': `add-${p.productId}`,
      'aria-describedby': `name-${p.productId}`, text: 'Add to cart', onclick: () => addToCart(p.productId) }));
}

/* ---------- cart ---------- */

function cartEntries() {
  const cart = loadJSON(CART_KEY, {});
  if (typeof cart !== 'object' || Array.isArray(cart)) return [];
  return Object.entries(cart).filter(([, qty]) => Number.isInteger(qty) && qty > 0);
}

function saveCart(entries) {
  saveJSON(CART_KEY, Object.fromEntries(entries));
  state.attemptKey = null; // a changed cart is a new checkout attempt
  renderCart();
}

const clampQty = (value) => Math.min(MAX_QTY, Math.max(1, Math.round(Number(value)) || 1));

function addToCart(productId) {
  const cart = Object.fromEntries(cartEntries());
  cart[productId] = Math.min(MAX_QTY, (cart[productId] || 0) + 1);
  saveCart(Object.entries(cart));
  const name = state.products.get(productId)?.name ?? productId;
  $('products-status').textContent = `${name} added to cart (${cart[productId]}).`;
}

function setQuantity(productId, value) {
  saveCart(cartEntries().map(([id, qty]) => [id, id === productId ? clampQty(value) : qty]));
}

function removeFromCart(productId) {
  saveCart(cartEntries().filter(([id]) => id !== productId));
}

function renderCart() {
  const entries = cartEntries();
  const focusedId = document.activeElement && document.activeElement.id; // keep focus across re-render
  $('cart-items').replaceChildren(...entries.map(([id, qty]) => cartLine(id, qty)));
  $('cart-empty').hidden = entries.length > 0;
  $('cart-count').textContent = String(entries.reduce((sum, [, qty]) => sum + qty, 0));
  $('cart-total').textContent = cartTotal(entries);
  if (focusedId && !document.activeElement?.id && $(focusedId)) $(focusedId).focus();
}

function cartLine(productId, qty) {
  const product = state.products.get(productId);
  const name = product ? product.name : productId;
  const qtyId = `qty-${productId}`;
  const lineTotal = product ? formatMinor(product.unitPrice.amount * qty, product.unitPrice.currency) : '—';
  let warning = null;
  if (!product && state.products.size) warning = 'No longer available — please remove it.';
  else if (product && qty > product.stock) warning = `Only ${product.stock} in stock; this order may fail.`;
  return el('li', { class: 'cart-line', 'data-testid': `cart-line-${productId}` },
    el('span', { class: 'cart-name', text: name }),
    el('label', { for: qtyId, class: 'visually-hidden', text: `Quantity of ${name}` }),
    el('input', { id: qtyId, type: 'number', min: 1, max: MAX_QTY, step: 1, value: qty, inputmode: 'numeric',
      class: 'qty', onchange: (e) => setQuantity(productId, e.target.value) }),
    el('span', { class: 'line-total', text: lineTotal }),
    el('button', { type: 'button', class: 'secondary small', 'data-testid': `remove-${productId}`,
      onclick: () => removeFromCart(productId) }, 'Remove', el('span', { class: 'visually-hidden', text: ` ${name}` })),
    warning && el('p', { class: 'warning', text: warning }));
}

function cartTotal(entries) {
  const totals = {};
  for (const [id, qty] of entries) {
    const price = state.products.get(id)?.unitPrice;
    if (price) totals[price.currency] = (totals[price.currency] || 0) + price.amount * qty;
  }
  const parts = Object.entries(totals).map(([currency, amount]) => formatMinor(amount, currency));
  return parts.length ? parts.join(' + ') : formatMinor(0, 'USD');
}

/* ---------- checkout form & errors ---------- */

function showFieldError(inputId, message) {
  const input = $(inputId);
  const error = $(`error-${inputId}`);
  error.textContent = message;
  input.setAttribute('aria-invalid', 'true');
  const ids = new Set((input.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean));
  ids.add(error.id);
  input.setAttribute('aria-describedby', [...ids].join(' '));
}

function clearFieldError(inputId) {
  const input = $(inputId);
  $(`error-${inputId}`).textContent = '';
  input.removeAttribute('aria-invalid');
  const ids = (input.getAttribute('aria-describedby') || '').split(/\s+/).filter((id) => id && id !== `error-${inputId}`);
  if (ids.length) input.setAttribute('aria-describedby', ids.join(' '));
  else input.removeAttribute('aria-describedby');
}

function showFormError(message) { $('form-error').textContent = message; }

function clearErrors() {
  FORM_FIELDS.forEach(clearFieldError);
  showFormError('');
  $('cart-message').textContent = '';
}

function checkForm() {
  const entries = cartEntries();
  let cartProblem = '';
  if (!entries.length) cartProblem = 'Your cart is empty — add a product first.';
  else if (entries.some(([id]) => !state.products.has(id))) {
    cartProblem = 'Your cart contains items that are not available. Please remove them.';
  }
  if (cartProblem) {
    showFormError(cartProblem);
    return false;
  }
  const missing = Object.keys(REQUIRED).filter((id) => !$(id).value.trim());
  missing.forEach((id) => showFieldError(id, REQUIRED[id]));
  if (missing.length) $(missing[0]).focus();
  return missing.length === 0;
}

function buildOrder() {
  const value = (id) => $(id).value.trim();
  const body = {
    customerId: customerId(),
    customerEmail: value('email'),
    items: cartEntries().map(([productId, quantity]) => (
      { productId, quantity, price: state.products.get(productId).unitPrice.decimal })),
    shippingAddress: { name: value('name'), line1: value('line1'), city: value('city'),
      postalCode: value('postalCode'), country: value('country').toUpperCase() },
  };
  const card = $('card').value.replace(/\s+/g, '');
  if (card) body.payment = { cardNumber: card };
  return body;
}

function setSubmitting(busy) {
  state.submitting = busy;
  $('place-order').disabled = busy;
  $('checkout-form').setAttribute('aria-busy', String(busy));
  $('submit-status').textContent = busy ? 'Placing your order…' : '';
}

async function onSubmit(event) {
  event.preventDefault();
  if (state.submitting) return; // double click / double Enter: one request only
  clearErrors();
  if (!checkForm()) return;
  setSubmitting(true);
  state.attemptKey = state.attemptKey || randomId();
  try {
    await submitOrder(buildOrder(), state.attemptKey);
  } finally {
    setSubmitting(false);
  }
}

async function submitOrder(body, key) {
  for (let attempt = 0; ; attempt++) {
    let resp;
    try {
      resp = await api('/api/orders', { method: 'POST', body, headers: { 'Idempotency-Key': key } });
    } catch {
      // Keep the key: re-submitting the same attempt cannot create a duplicate order.
      return showFormError('Network problem — we could not confirm your order. Submit again to retry safely.');
    }
    if (resp.ok) return orderPlaced(resp.data);
    const err = errorOf(resp);
    if (resp.status === 409 && err.code === 'IDEMPOTENCY_IN_FLIGHT') {
      if (attempt < MAX_IN_FLIGHT_RETRIES) { await sleep(1000); continue; }
      return showFormError('Your order is still being processed. Please wait a moment and submit again.');
    }
    return handleOrderError(resp.status, err, body);
  }
}

function handleOrderError(status, err, body) {
  if (status === 429 || status === 503) return showFormError(BUSY_TEXT); // same attempt may be retried
  if (status >= 500) return showFormError(err.message);
  state.attemptKey = null; // definitive rejection: the next submit is a new attempt
  if (err.code === 'PRICE_CHANGED') {
    showFormError(`${err.message} Prices have been updated — please review your cart and submit again.`);
    return loadProducts();
  }
  const inputId = err.field && FIELD_MAP[err.field];
  if (inputId) {
    showFieldError(inputId, err.message);
    return $(inputId).focus();
  }
  const item = /^items\[(\d+)\]/.exec(err.field || '');
  const line = item && body.items[Number(item[1])];
  const prefix = line ? `${state.products.get(line.productId)?.name ?? line.productId}: ` : '';
  if (line) $('cart-message').textContent = prefix + err.message;
  showFormError(prefix + err.message);
}

function onFormInput(event) {
  state.attemptKey = null; // edited form = new attempt
  if (FORM_FIELDS.includes(event.target.id)) clearFieldError(event.target.id);
}

function orderPlaced(order) {
  saveCart([]);
  rememberOrder({ orderId: order.orderId, accessToken: order.accessToken,
    createdAt: order.createdAt || new Date().toISOString(), total: order.total || null });
  history.replaceState(null, '', `#order=${encodeURIComponent(order.orderId)}`);
  openOrder(order.orderId, { focus: true });
}

/* ---------- recent orders ---------- */

function storedOrders() {
  const list = loadJSON(ORDERS_KEY, []);
  return Array.isArray(list) ? list.filter((o) => o && o.orderId && o.accessToken) : [];
}

function rememberOrder(entry) {
  const list = [entry, ...storedOrders().filter((o) => o.orderId !== entry.orderId)].slice(0, MAX_ORDERS);
  saveJSON(ORDERS_KEY, list);
  renderRecent();
}

function renderRecent() {
  const orders = storedOrders();
  $('recent-empty').hidden = orders.length > 0;
  $('recent-orders').replaceChildren(...orders.map((o) => {
    const href = `#order=${encodeURIComponent(o.orderId)}`;
    return el('li', { class: 'recent' },
      el('a', { href, 'data-testid': `recent-${o.orderId}`, text: `Order ${o.orderId}`,
        onclick: () => { if (location.hash === href) openOrder(o.orderId, { focus: true }); } }),
      el('span', { class: 'muted', text: [formatTime(o.createdAt), formatMoney(o.total)].filter(Boolean).join(' · ') }));
  }));
}

/* ---------- order status view ---------- */

function stopPolling() {
  clearTimeout(state.view.timer);
  state.view.gen++; // invalidates any poll still in flight
}

function openOrder(orderId, { focus = false } = {}) {
  stopPolling();
  const view = state.view;
  const saved = storedOrders().find((o) => o.orderId === orderId);
  Object.assign(view, { orderId, token: saved ? saved.accessToken : null, receiptUrl: null, status: null });
  $('order-status').hidden = false;
  $('order-id').textContent = orderId;
  ['status-value', 'failure-reason', 'order-total'].forEach((id) => { $(id).textContent = ''; });
  $('order-items').replaceChildren();
  $('timeline').replaceChildren();
  $('receipt-link').hidden = true;
  $('order-message').textContent = saved ? 'Loading order…' : 'This order was not placed from this browser, so its details are not available here.';
  if (focus) $('order-title').focus();
  if (saved) poll(view.gen);
}

function closeOrder() {
  stopPolling();
  $('order-status').hidden = true;
  if (location.hash.startsWith('#order=')) history.replaceState(null, '', location.pathname + location.search);
  $('catalog-title').focus();
}

async function poll(gen) {
  const view = state.view;
  let delay = POLL_MS;
  try {
    const resp = await api(`/api/orders/${encodeURIComponent(view.orderId)}`, { headers: bearer(view.token) });
    if (gen !== view.gen) return;
    if (resp.ok) {
      $('order-message').textContent = '';
      renderOrder(resp.data);
      if (TERMINAL.has(resp.data.status)) return;
    } else if (resp.status === 429 || resp.status >= 500) {
      $('order-message').textContent = resp.status === 429 || resp.status === 503 ? BUSY_TEXT : errorOf(resp).message;
      delay = 2000;
    } else {
      $('order-message').textContent = errorOf(resp).message; // 401/403/404: stop polling
      return;
    }
  } catch {
    if (gen !== view.gen) return;
    $('order-message').textContent = 'Connection problem — still checking your order…';
    delay = 2000;
  }
  view.timer = setTimeout(() => poll(gen), delay);
}

function renderOrder(order) {
  const view = state.view;
  if (order.status !== view.status) { // only touch the live region when the status changes
    view.status = order.status;
    $('status-value').textContent = order.status;
    $('status-value').className = `badge status-${String(order.status).toLowerCase()}`;
  }
  const reason = order.status === 'FAILED'
    ? FAILURE_TEXT[order.failureReason] || order.failureReason || 'The order could not be completed.'
    : order.status === 'AWAITING_PAYMENT'
      ? `Pay on invoice: the items are held until ${formatTime(order.paymentDue)}; an unpaid order is cancelled then.` : '';
  if ($('failure-reason').textContent !== reason) $('failure-reason').textContent = reason;
  $('order-items').replaceChildren(...(order.items || []).map((item) => el('li', {},
    el('span', { text: `${item.quantity} × ${item.name || item.productId}` }),
    el('span', { class: 'line-total', text: formatMoney(item.lineTotal) }))));
  $('order-total').textContent = formatMoney(order.total);
  $('timeline').replaceChildren(...(order.timeline || []).map(timelineEntry));
  view.receiptUrl = order.receiptUrl || `/api/orders/${encodeURIComponent(order.orderId)}/receipt`;
  $('receipt-link').hidden = order.status !== 'COMPLETED';
}

function timelineEntry(event) {
  return el('li', {},
    el('strong', { text: event.status }), ' ',
    el('time', { datetime: event.at, text: formatTime(event.at) }),
    event.reason ? el('span', { class: 'muted', text: ` — ${FAILURE_TEXT[event.reason] || event.reason}` }) : null);
}

async function downloadReceipt() {
  const { orderId, token, receiptUrl } = state.view;
  const button = $('receipt-link');
  button.disabled = true;
  try {
    const res = await fetch(receiptUrl, { headers: bearer(token) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const url = URL.createObjectURL(await res.blob());
    const link = el('a', { href: url, download: `receipt-${orderId}.pdf`, class: 'visually-hidden' });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 30000);
  } catch {
    $('order-message').textContent = 'Could not download the receipt. Please try again.';
  } finally {
    button.disabled = false;
  }
}

/* ---------- routing & start-up ---------- */

function orderIdFromHash() {
  const match = /^#order=(.+)$/.exec(location.hash);
  try { return match ? decodeURIComponent(match[1]) : null; } catch { return null; }
}

function onHashChange() {
  const orderId = orderIdFromHash();
  if (orderId) openOrder(orderId, { focus: true });
}

function onStorage(event) {
  if (event.key === CART_KEY) { state.attemptKey = null; renderCart(); }
  if (event.key === ORDERS_KEY) renderRecent();
}

function init() {
  $('checkout-form').addEventListener('submit', onSubmit);
  $('checkout-form').addEventListener('input', onFormInput);
  $('receipt-link').addEventListener('click', downloadReceipt);
  $('close-order').addEventListener('click', closeOrder);
  window.addEventListener('hashchange', onHashChange);
  window.addEventListener('storage', onStorage);
  renderCart();
  renderRecent();
  loadProducts();
  onHashChange();
}

init(); // the script is loaded with `defer`, so the DOM is ready
