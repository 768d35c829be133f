import { href } from '../../router.js';

export type RecordTab = 'document' | 'history' | 'sharing';

/** The tabs of one document's pages: its content, its history, who it is shared with. */
export function RecordTabs({ id, current }: { id: string; current: RecordTab }) {
  const base = `/resources/${encodeURIComponent(id)}`;
  const tabs: [RecordTab, string, string][] = [
    ['document', 'Document', base],
    ['history', 'History', `${base}/history`],
    ['sharing', 'Sharing', `${base}/sharing`],
  ];
  return (
    <nav class="tabs" aria-label="Document">
      {tabs.map(([tab, label, path]) => (
        <a key={tab} href={href(path)} aria-current={tab === current ? 'page' : undefined}>
          {label}
        </a>
      ))}
    </nav>
  );
}
