/** The notification bell (placeholder). */
export function NotificationBell() {
  return null;
}
