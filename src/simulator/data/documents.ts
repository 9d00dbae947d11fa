// Clinical note payloads for DocumentReference + Binary: plain text, HTML, a minimal valid PDF
// and a minimal C-CDA, as eCW stores progress notes and visit summaries.

export type NoteFormat = 'text/plain' | 'text/html' | 'application/pdf' | 'application/xml';

export interface NoteContent {
  title: string;
  /** Lines of the note, first one a heading. */
  lines: string[];
}

/** The note rendered in a content type, as bytes. */
export function renderNote(note: NoteContent, format: NoteFormat): Buffer {
  switch (format) {
    case 'text/plain':
      return Buffer.from(`${note.title.toUpperCase()}\n\n${note.lines.join('\n')}\n`, 'utf8');
    case 'text/html':
      return Buffer.from(
        `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeMarkup(note.title)}</title></head><body><h1>${escapeMarkup(note.title)}</h1>${note.lines.map((l) => `<p>${escapeMarkup(l)}</p>`).join('')}</body></html>`,
        'utf8',
      );
    case 'application/pdf':
      return minimalPdf(note);
    case 'application/xml':
      return Buffer.from(
        `<?xml version="1.0" encoding="UTF-8"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"><realmCode code="US"/><typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/><templateId root="2.16.840.1.113883.10.20.22.1.1" extension="2015-08-01"/><code code="34133-9" codeSystem="2.16.840.1.113883.6.1" displayName="Summary of episode note"/><title>${escapeMarkup(note.title)}</title><component><structuredBody><component><section><title>Visit summary</title><text>${note.lines.map((l) => `<paragraph>${escapeMarkup(l)}</paragraph>`).join('')}</text></section></component></structuredBody></component></ClinicalDocument>\n`,
        'utf8',
      );
  }
}

function escapeMarkup(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** One page of Helvetica text; the standard 14 fonts have no accents here, so strip them. */
function minimalPdf(note: NoteContent): Buffer {
  const pdfText = (s: string) =>
    s
      .normalize('NFD')
      .replace(/[\u0300-\u036f]/g, '')
      .replace(/[^\x20-\x7e]/g, '?')
      .replace(/[\\()]/g, (c) => `\\${c}`);
  const body = [note.title, '', ...note.lines].map((l) => `(${pdfText(l)}) '`).join('\n');
  const stream = `BT /F1 11 Tf 14 TL 72 740 Td\n${body}\nET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    `<< /Length ${Buffer.byteLength(stream, 'latin1')} >>\nstream\n${stream}\nendstream`,
  ];
  let pdf = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(Buffer.byteLength(pdf, 'latin1'));
    pdf += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = Buffer.byteLength(pdf, 'latin1');
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) pdf += `${String(offset).padStart(10, '0')} 00000 n \n`;
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(pdf, 'latin1');
}
