import { Type, type TSchema } from '@sinclair/typebox';

export const DEFAULT_PAGE_SIZE = 50;

export const PaginationQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: DEFAULT_PAGE_SIZE, description: 'Page size (at most 200).' })),
    cursor: Type.Optional(Type.String({ maxLength: 512, description: 'The `nextCursor` of the previous page.' })),
  },
  { additionalProperties: false },
);

export const IfMatchHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ description: 'ETag from a previous GET; the change is refused with 412 if the resource changed since.' })),
});

export const ETagHeader = {
  ETag: { type: 'string', description: 'Current version of the resource, for If-Match.' },
} as const;

export const CreatedHeaders = {
  ...ETagHeader,
  Location: { type: 'string', description: 'Path of the created resource.' },
} as const;

export function pageOf(item: TSchema, id: string, description: string) {
  return Type.Object(
    {
      data: Type.Array(item),
      nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` for the next page; null on the last page.' }),
    },
    { $id: id, additionalProperties: false, description },
  );
}

export const SegmentParams = Type.Object({ segment: Type.String({ minLength: 1, maxLength: 64, description: 'Segment id or slug.' }) });
