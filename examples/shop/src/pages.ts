// The shop's pages. Each one renders into the main element and tracks what happens on it; the
// page view itself is tracked by the router (main.ts) once the page is shown.
import type { PageViewedProperties } from "@driftless/sdk";
import { driftless } from "./analytics.js";
import { addToCart, cartId, cartLines, clearCart, itemCount, removeFromCart, subtotal } from "./cart.js";
import { CURRENCY, formatPrice, PRODUCTS, productById, SHIPPING, type Product, type ShippingMethod } from "./catalog.js";

export interface Page {
  title: string;
  /** page_viewed's category, for funnels. */
  category: NonNullable<PageViewedProperties["category"]>;
  render(root: HTMLElement, navigate: (path: string) => void): void;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const picture = (p: Product) => `<div class="picture" style="--a:${p.colors[0]};--b:${p.colors[1]}" aria-hidden="true"></div>`;

export function updateCartCount(): void {
  document.getElementById("cart-count")!.textContent = String(itemCount());
}

export const listing: Page = {
  title: "Driftless Outfitters: all products",
  category: "listing",
  render(root) {
    root.innerHTML = `<h1>Gear for wet weekends</h1>
      <ul class="grid">${PRODUCTS.map(
        (p) => `<li class="card">
          <a href="/products/${p.id}" data-link data-testid="product-${p.id}">${picture(p)}<h2>${esc(p.name)}</h2></a>
          <p class="price">${formatPrice(p.price)}${p.inStock ? "" : ' <span class="muted">sold out</span>'}</p>
        </li>`,
      ).join("")}</ul>`;
  },
};

export function productPage(product: Product): Page {
  return {
    title: `${product.name} | Driftless Outfitters`,
    category: "product",
    render(root) {
      root.innerHTML = `<article class="product">
        ${picture(product)}
        <div>
          <p class="muted">${esc(product.category)}</p>
          <h1>${esc(product.name)}</h1>
          <p>${esc(product.blurb)}</p>
          <p class="price">${formatPrice(product.price)}</p>
          <form id="add">
            <label>Quantity <select name="quantity" data-testid="quantity">${[1, 2, 3, 4, 5].map((n) => `<option>${n}</option>`).join("")}</select></label>
            <button ${product.inStock ? "" : "disabled"} data-testid="add-to-cart">${product.inStock ? "Add to cart" : "Sold out"}</button>
          </form>
          <p id="added" class="note" role="status"></p>
        </div>
      </article>`;
      driftless.track("product_viewed", {
        product_id: product.id,
        name: product.name,
        category: product.category,
        price: product.price,
        currency: CURRENCY,
        in_stock: product.inStock,
      });
      root.querySelector<HTMLFormElement>("#add")!.addEventListener("submit", (e) => {
        e.preventDefault();
        const quantity = Number(new FormData(e.target as HTMLFormElement).get("quantity"));
        addToCart(product, quantity);
        driftless.track("cart_item_added", { cart_id: cartId(), product_id: product.id, quantity, price: product.price, currency: CURRENCY });
        updateCartCount();
        root.querySelector("#added")!.innerHTML = `${quantity} × ${esc(product.name)} added. <a href="/cart" data-link data-testid="go-to-cart">Go to the cart</a>`;
      });
    },
  };
}

export const cart: Page = {
  title: "Your cart | Driftless Outfitters",
  category: "cart",
  render(root, navigate) {
    const lines = cartLines();
    if (!lines.length) {
      root.innerHTML = `<h1>Your cart is empty</h1><p><a href="/" data-link>See the products</a></p>`;
      return;
    }
    root.innerHTML = `<h1>Your cart</h1>
      <table class="lines">${lines
        .map(
          (l) => `<tr><td>${esc(l.product.name)}</td><td>× ${l.quantity}</td><td class="num">${formatPrice(l.product.price * l.quantity)}</td>
            <td><button class="link" data-remove="${l.product.id}">Remove</button></td></tr>`,
        )
        .join("")}
        <tr class="total"><td>Subtotal</td><td></td><td class="num">${formatPrice(subtotal())}</td><td></td></tr>
      </table>
      <p><a class="button" href="/checkout" data-link data-testid="checkout">Checkout</a></p>`;
    root.querySelectorAll<HTMLButtonElement>("[data-remove]").forEach((b) =>
      b.addEventListener("click", () => {
        removeFromCart(b.dataset["remove"]!);
        updateCartCount();
        navigate("/cart");
      }),
    );
  },
};

export const checkout: Page = {
  title: "Checkout | Driftless Outfitters",
  category: "checkout",
  render(root, navigate) {
    const lines = cartLines();
    if (!lines.length) return void (root.innerHTML = `<h1>Nothing to check out</h1><p><a href="/" data-link>See the products</a></p>`);
    root.innerHTML = `<h1>Checkout</h1>
      <form id="order" class="order">
        <label>E-mail <input name="email" type="email" required autocomplete="email" data-testid="email"></label>
        <fieldset><legend>Delivery</legend>${Object.entries(SHIPPING)
          .map(([key, s], i) => `<label><input type="radio" name="shipping" value="${key}" ${i == 0 ? "checked" : ""} data-testid="shipping-${key}"> ${s.label}, ${formatPrice(s.price)}</label>`)
          .join("")}</fieldset>
        <label>Coupon <input name="coupon" autocomplete="off" data-testid="coupon"></label>
        <label><input type="checkbox" name="account" data-testid="create-account"> Create an account</label>
        <label><input type="checkbox" name="newsletter"> Send me the newsletter</label>
        <p>Subtotal ${formatPrice(subtotal())}, plus delivery.</p>
        <button data-testid="place-order">Place order</button>
        <p id="error" class="error" role="alert"></p>
      </form>`;
    const form = root.querySelector<HTMLFormElement>("#order")!;
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = new FormData(form);
      const createAccount = data.get("account") == "on";
      const coupon = String(data.get("coupon") ?? "").trim();
      const button = form.querySelector("button")!;
      button.disabled = true;
      const res = await fetch("/api/checkout", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          cart_id: cartId(),
          items: lines.map((l) => ({ product_id: l.product.id, quantity: l.quantity })),
          shipping_method: data.get("shipping") as ShippingMethod,
          ...(coupon ? { coupon } : {}),
          email: String(data.get("email")),
          create_account: createAccount,
          // The server tracks checkout_completed for this browser, so that it joins its journey.
          ids: driftless.ids(),
        }),
      }).catch(() => undefined);
      const answer = (await res?.json().catch(() => undefined)) as { order_id: string; total: number; customer_id: string | null; error?: { message: string } } | undefined;
      button.disabled = false;
      if (!res?.ok || !answer) {
        form.querySelector("#error")!.textContent = answer?.error?.message ?? "The order could not be placed; try again.";
        return;
      }
      if (answer.customer_id) driftless.identify(answer.customer_id);
      if (createAccount) driftless.track("signed_up", { method: "email", newsletter_opt_in: data.get("newsletter") == "on" });
      clearCart();
      updateCartCount();
      sessionStorage.setItem("shop.order", JSON.stringify(answer));
      navigate("/checkout/complete");
    });
  },
};

export const complete: Page = {
  title: "Thank you | Driftless Outfitters",
  category: "checkout",
  render(root) {
    const order = JSON.parse(sessionStorage.getItem("shop.order") ?? "null") as { order_id: string; total: number } | null;
    root.innerHTML = order
      ? `<h1>Thank you!</h1><p>Order <code data-testid="order-id">${esc(order.order_id)}</code> is placed: ${formatPrice(order.total)}.</p><p><a href="/" data-link>Keep shopping</a></p>`
      : `<h1>No order here</h1><p><a href="/" data-link>See the products</a></p>`;
  },
};

export const notFound: Page = {
  title: "Not found | Driftless Outfitters",
  category: "other",
  render(root) {
    root.innerHTML = `<h1>This page does not exist</h1><p><a href="/" data-link>See the products</a></p>`;
  },
};

/** The page for a path. */
export function route(path: string): Page {
  if (path == "/") return listing;
  const product = /^\/products\/([\w-]+)$/.exec(path);
  if (product) {
    const p = productById(product[1]!);
    return p ? productPage(p) : notFound;
  }
  return ({ "/cart": cart, "/checkout": checkout, "/checkout/complete": complete } as Record<string, Page>)[path] ?? notFound;
}
