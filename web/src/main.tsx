import { render } from 'preact';
import { App } from './app.js';
import { SessionProvider } from './session.js';
import { applyStoredTheme } from './ui/theme.js';
import './styles.css';

applyStoredTheme();
render(
  <SessionProvider>
    <App />
  </SessionProvider>,
  document.getElementById('app')!,
);
