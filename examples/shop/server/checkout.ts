// POST /api/checkout: the order as the page sends it, checked, priced from the catalogue, and
// tracked as checkout_completed with the Node.js client, on behalf of the browser that placed it.
import { createHash, randomUUID } from "node:crypto";
import type { ServerClient } from "@driftless/sdk/server";
import { cents, CURRENCY, productById, SHIPPING, type ShippingMethod } from "../src/catalog.js";

/** What the page sends (src/checkout-form.ts). */
export interface CheckoutRequest {
  cart_id: string;
  items: { product_id: string; quantity: number }[];
  shipping_method: ShippingMethod;
  coupon?: string;
  email: string;
  create_account: boolean;
  /**
   * The browser SDK's ids(), so that the order joins the visitor's journey in the lake; absent when
   * the visitor opted out of tracking, and then the server does not track the order either.
   */
  ids?: { anonymous_id: string; session_id: string; user_id: string | null };
}

export interface CheckoutAnswer {
  order_id: string;
  total: number;
  currency: string;
  /** The account the order belongs to, when the shopper has or created one. */
  customer_id: string | null;
}

/** A request the shop refuses, with what to fix. */
export class CheckoutError extends Error {}

/** 10% off the items. */
const COUPONS: Record<string, number> = { WELCOME10: 0.1 };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v == "object" && v !== null && !Array.isArray(v);

function text(v: unknown, name: string, max: number): string {
  if (typeof v != "string" || !v.length || v.length > max) throw new CheckoutError(`${name} must be a string of 1 to ${max} characters`);
  return v;
}

/** The request body, checked field by field. */
export function readCheckout(body: unknown): CheckoutRequest {
  if (!isRecord(body)) throw new CheckoutError("the body must be a JSON object");
  const { items, ids, shipping_method, coupon, create_account } = body;
  if (!Array.isArray(items) || !items.length || items.length > 50) throw new CheckoutError("items must list 1 to 50 products");
  const lines = items.map((item, i) => {
    if (!isRecord(item)) throw new CheckoutError(`items[${i}] must be an object`);
    const product = productById(text(item["product_id"], `items[${i}].product_id`, 128));
    if (!product) throw new CheckoutError(`items[${i}].product_id ${JSON.stringify(item["product_id"])} is not in the catalogue`);
    if (!product.inStock) throw new CheckoutError(`${product.name} is out of stock`);
    const quantity = item["quantity"];
    if (!Number.isInteger(quantity) || (quantity as number) < 1 || (quantity as number) > 99) throw new CheckoutError(`items[${i}].quantity must be an integer from 1 to 99`);
    return { product_id: product.id, quantity: quantity as number };
  });
  if (typeof shipping_method != "string" || !Object.hasOwn(SHIPPING, shipping_method)) {
    throw new CheckoutError(`shipping_method must be one of ${Object.keys(SHIPPING).join(", ")}`);
  }
  if (coupon !== undefined && (typeof coupon != "string" || !Object.hasOwn(COUPONS, coupon))) throw new CheckoutError(`coupon ${JSON.stringify(coupon)} is not valid`);
  if (typeof create_account != "boolean") throw new CheckoutError("create_account must be true or false");
  if (ids != null && !isRecord(ids)) throw new CheckoutError("ids must be the browser SDK's ids(), or absent");
  const email = text(body["email"], "email", 254);
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) throw new CheckoutError("email must be an e-mail address");
  return {
    cart_id: text(body["cart_id"], "cart_id", 128),
    items: lines,
    shipping_method: shipping_method as ShippingMethod,
    ...(coupon === undefined ? {} : { coupon }),
    email,
    create_account,
    ...(ids == null
      ? {}
      : {
          ids: {
            anonymous_id: text(ids["anonymous_id"], "ids.anonymous_id", 128),
            session_id: text(ids["session_id"], "ids.session_id", 128),
            user_id: ids["user_id"] == null ? null : text(ids["user_id"], "ids.user_id", 256),
          },
        }),
  };
}

/** A stable customer id per e-mail address: the shop's stand-in for its customer database. */
const customerId = (email: string) => "cus_" + createHash("sha256").update(email.trim().toLowerCase()).digest("hex").slice(0, 16);

/**
 * Places the order and tracks it for the browser that placed it. The tracking call returns at once:
 * delivery happens in the background, and a failure to deliver never fails the order.
 */
export function placeOrder(order: CheckoutRequest, driftless: ServerClient, page: { url?: string; locale?: string }): CheckoutAnswer {
  const discount = order.coupon ? COUPONS[order.coupon]! : 0;
  const items = order.items.map(({ product_id, quantity }) => {
    const product = productById(product_id)!;
    return { product_id, quantity, price: product.price };
  });
  const itemsCents = items.reduce((sum, item) => sum + cents(item.price) * item.quantity, 0);
  const totalCents = Math.round(itemsCents * (1 - discount)) + cents(SHIPPING[order.shipping_method].price);
  const answer: CheckoutAnswer = {
    order_id: "ord_" + randomUUID().replaceAll("-", "").slice(0, 20),
    total: totalCents / 100,
    currency: CURRENCY,
    customer_id: order.create_account ? customerId(order.email) : (order.ids?.user_id ?? null),
  };
  if (!order.ids) return answer;
  driftless.track(
    "checkout_completed",
    {
      order_id: answer.order_id,
      total: answer.total,
      currency: CURRENCY,
      items,
      shipping_method: order.shipping_method,
      ...(order.coupon ? { coupon: order.coupon } : {}),
    },
    {
      anonymous_id: order.ids.anonymous_id,
      session_id: order.ids.session_id,
      user_id: answer.customer_id,
      context: { page: page.url ? { url: page.url.slice(0, 4096) } : {}, ...(page.locale ? { locale: page.locale } : {}) },
    },
  );
  return answer;
}
