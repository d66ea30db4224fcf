// Labels in Vietnamese (the default: the users are Vietnamese officials) and English. Codes, ids
// and the names the log records stay as they are; only the page's own words are translated.

const LABELS = {
  title: ['Sổ cái phối hợp KCN – Bảng điều khiển kiểm toán', 'kcn-ledger – audit console'],
  signIn: ['Đăng nhập', 'Sign in'],
  signOut: ['Đăng xuất', 'Sign out'],
  token: ['Mã truy cập (token)', 'Access token'],
  signedInAs: ['Đăng nhập với', 'Signed in as'],
  role: ['Vai trò', 'Role'],
  organisation: ['Tổ chức', 'Organisation'],
  navFind: ['Tra cứu', 'Find'],
  navTimeline: ['Dòng thời gian', 'Timeline'],
  navAudit: ['Câu hỏi kiểm toán', 'Audit questions'],
  navHistory: ['Lịch sử', 'History'],
  navPictures: ['Biểu đồ', 'Pictures'],
  navVerify: ['Xác minh', 'Verify'],
  search: ['Tìm', 'Search'],
  searchHint: ['Mã hoặc tên', 'Code or name'],
  parks: ['Khu công nghiệp', 'Industrial parks'],
  companies: ['Công ty hạ tầng', 'Infrastructure companies'],
  tenants: ['Doanh nghiệp thứ cấp', 'Tenants'],
  authorities: ['Cơ quan', 'Authorities'],
  responsibilityOn: ['Trách nhiệm của KCN vào ngày', "The park's responsibility on"],
  responsibleAuthority: ['Cơ quan chịu trách nhiệm', 'Responsible authority'],
  assignedAuthority: ['Cơ quan được giao', 'Assigned authority'],
  company: ['Công ty hạ tầng', 'Infrastructure company'],
  agreement: ['Quy chế phối hợp có hiệu lực', 'Agreement in force'],
  none: ['Không có', 'None'],
  show: ['Xem', 'Show'],
  timeline: ['Dòng thời gian', 'Timeline'],
  history: ['Lịch sử', 'History'],
  subjectType: ['Loại đối tượng', 'Subject type'],
  subjectId: ['Mã định danh', 'Id'],
  park: ['Khu công nghiệp', 'Park'],
  tenant: ['Doanh nghiệp', 'Tenant'],
  authority: ['Cơ quan', 'Authority'],
  fromDate: ['Từ ngày', 'From date'],
  toDate: ['Đến ngày', 'To date'],
  eventTypes: ['Loại sự kiện (cách nhau bởi dấu phẩy)', 'Event types (comma separated)'],
  position: ['Vị trí', 'Position'],
  occurredAt: ['Thời điểm xảy ra', 'Occurred'],
  recordedAt: ['Thời điểm ghi', 'Recorded'],
  eventType: ['Loại sự kiện', 'Event type'],
  aggregate: ['Đối tượng', 'Aggregate'],
  actor: ['Người thực hiện', 'Actor'],
  actingAuthority: ['Cơ quan có thẩm quyền', 'Acting authority'],
  verified: ['Đã xác minh', 'Verified'],
  notVerified: ['Chưa xác minh', 'Not verified'],
  mismatch: ['KHÔNG KHỚP', 'MISMATCH'],
  next: ['Trang sau', 'Next page'],
  run: ['Trả lời', 'Answer'],
  noRows: ['Không có kết quả', 'No results'],
  breaches: ['Vi phạm', 'Breaches'],
  aggregateType: ['Loại đối tượng', 'Aggregate type'],
  aggregateId: ['Mã đối tượng', 'Aggregate id'],
  atPosition: ['Tại vị trí', 'At position'],
  recordedBy: ['Ghi nhận đến thời điểm', 'Recorded by'],
  happenedBy: ['Đã xảy ra đến ngày', 'Happened by date'],
  state: ['Trạng thái', 'State'],
  version: ['Phiên bản', 'Version'],
  changes: ['Thay đổi', 'What changed'],
  verifierKey: ['Khóa xác minh của sổ cái', "The log's verifier key"],
  pinKey: ['Ghim khóa', 'Pin key'],
  pinnedKey: ['Khóa đã ghim', 'Pinned key'],
  forgetKey: ['Bỏ ghim', 'Forget key'],
  useServerKey: ['Ghim khóa máy chủ công bố (lần đầu sử dụng)', "Pin the key the server publishes (first use)"],
  keyWarning: [
    'Hãy so sánh khóa này với khóa nhận được qua kênh chính thức.',
    'Compare this key with the one you received out of band.',
  ],
  checkpoint: ['Điểm kiểm tra đã ký', 'Signed checkpoint'],
  treeSize: ['Kích thước cây', 'Tree size'],
  lastSeen: ['Điểm kiểm tra đã thấy lần trước', 'Checkpoint seen last time'],
  consistent: ['Nhất quán với lần trước: sổ cái chỉ tăng thêm', 'Consistent with last time: the log only grew'],
  verifyNow: ['Xác minh ngay', 'Verify now'],
  verifyShown: ['Xác minh các sự kiện đang hiển thị', 'Verify the events shown'],
  needKey: [
    'Chưa có khóa xác minh: ghim khóa ở mục Xác minh để kiểm tra dữ liệu trong trình duyệt.',
    'No verifier key yet: pin one under Verify to check what you see in the browser.',
  ],
  needAuditor: [
    'Việc xác minh từng sự kiện cần vai trò kiểm toán viên (đọc sổ cái gốc).',
    "Checking each event needs the auditor's role (reading the raw log).",
  ],
  allVerified: ['Mọi sự kiện hiển thị đều nằm trong sổ cái đã ký', 'Every event shown is in the signed log'],
  tampered: ['CẢNH BÁO: dữ liệu không khớp với sổ cái đã ký', 'WARNING: what the server sent does not match the signed log'],
  signedBytes: ['Dữ liệu đã ký (payload)', 'Signed payload'],
  metadata: ['Siêu dữ liệu', 'Metadata'],
  incidentPicture: ['Diễn biến sự cố so với hạn thông báo', "An incident's timeline against its deadline"],
  inspectionsPicture: ['Số cuộc kiểm tra theo KCN và năm', 'Inspections per park per year'],
  growthPicture: ['Sự tăng trưởng của sổ cái', "The log's growth"],
  incidentId: ['Mã sự cố', 'Incident id'],
  deadline: ['Hạn thông báo', 'Notification deadline'],
  draw: ['Vẽ', 'Draw'],
  year: ['Năm', 'Year'],
  events: ['sự kiện', 'events'],
  loading: ['Đang tải…', 'Loading…'],
  error: ['Lỗi', 'Error'],
  timesUtc7: ['Thời gian hiển thị theo giờ Việt Nam (UTC+7)', 'Times are shown in Vietnam time (UTC+7)'],
  limit: ['Giới hạn vi phạm', 'Limit breached'],
  details: ['Chi tiết', 'Details'],
  openTimeline: ['Dòng thời gian', 'Timeline'],
  openHistory: ['Lịch sử', 'History'],
  q1: ['1. Mọi việc liên quan đến KCN, công ty hoặc doanh nghiệp giữa hai ngày', '1. Everything about a park, company or tenant between two dates'],
  q2: ['2. Các cuộc kiểm tra một doanh nghiệp', "2. A tenant's inspections"],
  q3: ['3. Doanh nghiệp bị kiểm tra hơn một lần trong năm', '3. Tenants inspected more than once a year'],
  q4: ['4. Lấy ý kiến ngành nghề thu hút đầu tư', '4. Industry consultations'],
  q5: ['5. Diễn biến một sự cố môi trường', "5. An incident's timeline"],
  q6: ['6. Yêu cầu cung cấp thông tin trả lời trễ', '6. Information requests answered late'],
  q7: ['7. Cảnh báo quan trắc không được xử lý', '7. Monitoring alerts without follow-up'],
  q8: ['8. Trách nhiệm của KCN vào một ngày', '8. A park’s responsibility on a date'],
  q9: ['9. Báo cáo môi trường năm nộp trễ', '9. Annual environmental reports filed late'],
  q10: ['10. Thời gian giải quyết thủ tục hành chính', '10. Procedure processing times'],
  q11: ['11. Trạng thái của đối tượng tại một thời điểm', '11. Any aggregate as of a past point'],
  qBreaches: ['Sổ đăng ký vi phạm', 'The breach register'],
};

let lang = localStorage.getItem('kcn.lang') === 'en' ? 'en' : 'vi';

export function language() {
  return lang;
}

export function setLanguage(l) {
  lang = l === 'en' ? 'en' : 'vi';
  localStorage.setItem('kcn.lang', lang);
  document.documentElement.lang = lang;
}

/** The label `key` in the page's language (the key itself when there is none, so a gap shows). */
export function t(key) {
  const pair = LABELS[key];
  if (!pair) return key;
  return lang === 'en' ? pair[1] : pair[0];
}

const LOCAL = new Intl.DateTimeFormat('sv-SE', {
  timeZone: 'Asia/Ho_Chi_Minh',
  year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit',
  hour12: false,
});

/** An RFC 3339 instant as Vietnam's local time (UTC+7), "YYYY-MM-DD HH:MM:SS". */
export function localTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return LOCAL.format(d);
}

/** The start of a local date (UTC+7) as an RFC 3339 UTC instant, for the API's timestamps. */
export function localDateStart(date) {
  if (!date) return undefined;
  return new Date(`${date}T00:00:00+07:00`).toISOString();
}
