import type { ComponentType } from 'preact';
import { useEffect } from 'preact/hooks';
import { ConnectionIndicator } from './live/connection.js';
import { NotificationBell } from './live/bell.js';
import { RolePage } from './pages/admin/role.js';
import { RolesPage } from './pages/admin/roles.js';
import { UserPage } from './pages/admin/user.js';
import { UsersPage } from './pages/admin/users.js';
import { AccountPage } from './pages/auth/account.js';
import { RegisterPage } from './pages/auth/register.js';
import { SessionsPage } from './pages/auth/sessions.js';
import { SignInPage } from './pages/auth/sign-in.js';
import { NotificationsPage } from './pages/notifications.js';
import { CreateResourcePage } from './pages/resources/create.js';
import { HistoryPage } from './pages/resources/history.js';
import { ResourcesPage } from './pages/resources/list.js';
import { RecordPage } from './pages/resources/record.js';
import { SharingPage } from './pages/resources/sharing.js';
import { href, match, navigate, useRoute, type Route } from './router.js';
import { useSession } from './session.js';
import { ThemeToggle } from './ui/theme.js';
import { Loading } from './ui/feedback.js';

/** What a page is given: the route's named parts and its query. */
export interface PageProps {
  params: Record<string, string>;
  route: Route;
}

interface RouteEntry {
  pattern: string;
  page: ComponentType<PageProps>;
  /** Who may see it: everyone signed out, members, or administrators. */
  access: 'public' | 'member' | 'admin';
}

/** Every page of the console; the first pattern that matches wins. */
const ROUTES: RouteEntry[] = [
  { pattern: '/sign-in', page: SignInPage, access: 'public' },
  { pattern: '/register', page: RegisterPage, access: 'public' },
  { pattern: '/', page: ResourcesPage, access: 'member' },
  { pattern: '/resources', page: ResourcesPage, access: 'member' },
  { pattern: '/resources/new', page: CreateResourcePage, access: 'member' },
  { pattern: '/resources/:id', page: RecordPage, access: 'member' },
  { pattern: '/resources/:id/history', page: HistoryPage, access: 'member' },
  { pattern: '/resources/:id/sharing', page: SharingPage, access: 'member' },
  { pattern: '/notifications', page: NotificationsPage, access: 'member' },
  { pattern: '/account', page: AccountPage, access: 'member' },
  { pattern: '/account/sessions', page: SessionsPage, access: 'member' },
  { pattern: '/admin/users', page: UsersPage, access: 'admin' },
  { pattern: '/admin/users/:id', page: UserPage, access: 'admin' },
  { pattern: '/admin/roles', page: RolesPage, access: 'admin' },
  { pattern: '/admin/roles/:id', page: RolePage, access: 'admin' },
];

function resolve(path: string): { entry: RouteEntry; params: Record<string, string> } | undefined {
  for (const entry of ROUTES) {
    const params = match(entry.pattern, path);
    if (params) return { entry, params };
  }
  return undefined;
}

export function App() {
  const route = useRoute();
  const session = useSession();
  const found = resolve(route.path);

  // Signed out on a member page: to the sign-in page, which comes back here afterwards.
  const mustSignIn = session.me === null && found?.entry.access !== 'public';
  useEffect(() => {
    if (mustSignIn) navigate('/sign-in', { next: route.path === '/sign-in' ? undefined : route.path }, { replace: true });
  }, [mustSignIn, route.path]);

  if (session.me === undefined) return <Loading label="Loading the console…" />;
  return (
    <div class="shell">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href={href('/')}>
          PCF console
        </a>
        {session.me && (
          <nav aria-label="Main" class="nav">
            <a href={href('/resources')} aria-current={route.path === '/' || route.path.startsWith('/resources') ? 'page' : undefined}>
              Documents
            </a>
            {session.isAdmin && (
              <>
                <a href={href('/admin/users')} aria-current={route.path.startsWith('/admin/users') ? 'page' : undefined}>
                  Users
                </a>
                <a href={href('/admin/roles')} aria-current={route.path.startsWith('/admin/roles') ? 'page' : undefined}>
                  Roles
                </a>
              </>
            )}
          </nav>
        )}
        <div class="topbar-end">
          {session.me && <ConnectionIndicator />}
          {session.me && <NotificationBell />}
          <ThemeToggle />
          {session.me && (
            <a class="account-link" href={href('/account')} aria-current={route.path.startsWith('/account') ? 'page' : undefined}>
              {session.me.user.name || session.me.user.email}
            </a>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Routed found={found} route={route} />
      </main>
    </div>
  );
}

function Routed({ found, route }: { found: ReturnType<typeof resolve>; route: Route }) {
  const session = useSession();
  if (!found) return <NotFound />;
  if (found.entry.access !== 'public' && !session.me) return <Loading />;
  if (found.entry.access === 'admin' && !session.isAdmin) return <NotFound />;
  const Page = found.entry.page;
  // Keyed by path: another document is another page (fresh state, focus on its heading); a
  // change of the query alone (the list's filters) keeps the page.
  return <Page key={route.path} params={found.params} route={route} />;
}

function NotFound() {
  return (
    <section class="page">
      <h1>Not found</h1>
      <p>
        There is no such page. <a href={href('/')}>Go to your documents</a>.
      </p>
    </section>
  );
}
