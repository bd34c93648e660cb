/**
 * ISO 3166-1: every alpha-2 code with its alpha-3 code (249 entries), so `USA`, `GBR`, `DEU`
 * map to alpha-2. English names come from ICU (`Intl.DisplayNames`), built once on first use.
 */
const ISO_3166 =
  'AFAFG AXALA ALALB DZDZA ASASM ADAND AOAGO AIAIA AQATA AGATG ARARG AMARM AWABW AUAUS ATAUT AZAZE BSBHS BHBHR BDBGD BBBRB ' +
  'BYBLR BEBEL BZBLZ BJBEN BMBMU BTBTN BOBOL BQBES BABIH BWBWA BVBVT BRBRA IOIOT BNBRN BGBGR BFBFA BIBDI CVCPV KHKHM CMCMR ' +
  'CACAN KYCYM CFCAF TDTCD CLCHL CNCHN CXCXR CCCCK COCOL KMCOM CGCOG CDCOD CKCOK CRCRI CICIV HRHRV CUCUB CWCUW CYCYP CZCZE ' +
  'DKDNK DJDJI DMDMA DODOM ECECU EGEGY SVSLV GQGNQ ERERI EEEST ETETH FKFLK FOFRO FJFJI FIFIN FRFRA GFGUF PFPYF TFATF GAGAB ' +
  'GMGMB GEGEO DEDEU GHGHA GIGIB GRGRC GLGRL GDGRD GPGLP GUGUM GTGTM GGGGY GNGIN GWGNB GYGUY HTHTI HMHMD VAVAT HNHND HKHKG ' +
  'HUHUN ISISL ININD IDIDN IRIRN IQIRQ IEIRL IMIMN ILISR ITITA JMJAM JPJPN JEJEY JOJOR KZKAZ KEKEN KIKIR KPPRK KRKOR KWKWT ' +
  'KGKGZ LALAO LVLVA LBLBN LSLSO LRLBR LYLBY LILIE LTLTU LULUX MOMAC MKMKD MGMDG MWMWI MYMYS MVMDV MLMLI MTMLT MHMHL MQMTQ ' +
  'MRMRT MUMUS YTMYT MXMEX FMFSM MDMDA MCMCO MNMNG MEMNE MSMSR MAMAR MZMOZ MMMMR NANAM NRNRU NPNPL NLNLD NCNCL NZNZL NINIC ' +
  'NENER NGNGA NUNIU NFNFK MPMNP NONOR OMOMN PKPAK PWPLW PSPSE PAPAN PGPNG PYPRY PEPER PHPHL PNPCN PLPOL PTPRT PRPRI QAQAT ' +
  'REREU ROROU RURUS RWRWA BLBLM SHSHN KNKNA LCLCA MFMAF PMSPM VCVCT WSWSM SMSMR STSTP SASAU SNSEN RSSRB SCSYC SLSLE SGSGP ' +
  'SXSXM SKSVK SISVN SBSLB SOSOM ZAZAF GSSGS SSSSD ESESP LKLKA SDSDN SRSUR SJSJM SZSWZ SESWE CHCHE SYSYR TWTWN TJTJK TZTZA ' +
  'THTHA TLTLS TGTGO TKTKL TOTON TTTTO TNTUN TRTUR TMTKM TCTCA TVTUV UGUGA UAUKR AEARE GBGBR USUSA UMUMI UYURY UZUZB VUVUT ' +
  'VEVEN VNVNM VGVGB VIVIR WFWLF EHESH YEYEM ZMZMB ZWZWE';

const ALPHA2 = new Set<string>();
const ALPHA3 = new Map<string, string>();
for (const entry of ISO_3166.split(' ')) {
  ALPHA2.add(entry.slice(0, 2));
  ALPHA3.set(entry.slice(2), entry.slice(0, 2));
}

/** Common ways of writing a country that are not its ICU English name. Keys: lowercase letters only. */
const ALIASES: Record<string, string> = {
  uk: 'GB', greatbritain: 'GB', britain: 'GB', england: 'GB', scotland: 'GB', wales: 'GB', northernireland: 'GB',
  us: 'US', usa: 'US', unitedstatesofamerica: 'US', america: 'US',
  southkorea: 'KR', korea: 'KR', republicofkorea: 'KR', northkorea: 'KP', russia: 'RU', russianfederation: 'RU',
  czechrepublic: 'CZ', holland: 'NL', thenetherlands: 'NL', uae: 'AE', turkey: 'TR', ivorycoast: 'CI', vietnam: 'VN',
};

let names: Map<string, string> | undefined;
function byName(): Map<string, string> {
  if (names) return names;
  names = new Map(Object.entries(ALIASES));
  const display = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });
  for (const code of ALPHA2) {
    const name = display.of(code);
    if (name) names.set(name.normalize('NFD').toLowerCase().replace(/[^a-z]/g, ''), code);
  }
  return names;
}

/** `us`, `USA`, `United States`, `U.S.A.` → `US`; undefined when it is not a country we can name. */
export function countryAlpha2(raw: string): string | undefined {
  const trimmed = raw.trim();
  if (trimmed.length === 2) {
    const upper = trimmed.toUpperCase();
    // `UK` is not ISO (it is reserved): everyone means GB.
    if (upper === 'UK') return 'GB';
    return ALPHA2.has(upper) ? upper : undefined;
  }
  if (trimmed.length === 3) {
    const alpha2 = ALPHA3.get(trimmed.toUpperCase());
    if (alpha2) return alpha2;
  }
  const key = trimmed.normalize('NFD').toLowerCase().replace(/[^a-z]/g, '');
  if (key.length === 2) return countryAlpha2(key);
  return key.length > 0 ? byName().get(key) : undefined;
}
