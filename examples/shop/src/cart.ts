// The cart, kept in localStorage so that it survives reloads, with its id for cart_item_added.
import { cents, productById, type Product } from "./catalog.js";

export interface CartLine {
  product: Product;
  quantity: number;
}

interface Stored {
  id: string;
  lines: { product_id: string; quantity: number }[];
}

const KEY = "shop.cart";

function load(): Stored {
  try {
    const stored = JSON.parse(localStorage.getItem(KEY) ?? "null") as Stored | null;
    if (stored?.id && Array.isArray(stored.lines)) return stored;
  } catch {
    // A corrupt cart is an empty one.
  }
  return { id: crypto.randomUUID(), lines: [] };
}

const save = (cart: Stored) => localStorage.setItem(KEY, JSON.stringify(cart));

export const cartId = (): string => load().id;

export function cartLines(): CartLine[] {
  return load().lines.flatMap(({ product_id, quantity }) => {
    const product = productById(product_id);
    return product ? [{ product, quantity }] : [];
  });
}

export function addToCart(product: Product, quantity: number): void {
  const cart = load();
  const line = cart.lines.find((l) => l.product_id == product.id);
  if (line) line.quantity += quantity;
  else cart.lines.push({ product_id: product.id, quantity });
  save(cart);
}

export function removeFromCart(productId: string): void {
  const cart = load();
  cart.lines = cart.lines.filter((l) => l.product_id != productId);
  save(cart);
}

/** After an order: a new, empty cart with a new id. */
export const clearCart = (): void => localStorage.removeItem(KEY);

export const itemCount = (): number => cartLines().reduce((n, l) => n + l.quantity, 0);

export const subtotal = (): number => cartLines().reduce((sum, l) => sum + cents(l.product.price) * l.quantity, 0) / 100;
