//! Sample layouts and certificate data: a landscape A3 business licence (营业执照) and a
//! portrait A4 permit. They feed the renderer's tests, its benchmark and any demo; they are
//! not the catalog's layouts (those live in `templates-certs/layouts/`).

use chrono::NaiveDate;

use super::{CertificateView, RenderMode};
use crate::catalog::layout::{Block, BlockRole, Layout};
use crate::domain::copy::CopyKind;

fn block(role: BlockRole, x: f32, y: f32, w: f32, h: f32) -> Block {
    Block {
        role,
        x_mm: x,
        y_mm: y,
        w_mm: w,
        h_mm: h,
        columns: None,
        rows: None,
    }
}

fn grid(x: f32, y: f32, w: f32, h: f32, columns: u32, rows: u32) -> Block {
    Block {
        columns: Some(columns),
        rows: Some(rows),
        ..block(BlockRole::Fields, x, y, w, h)
    }
}

/// 420 x 297 mm, landscape, laid out like the national business licence.
pub fn business_licence_layout() -> Layout {
    use BlockRole::*;
    Layout {
        id: "sample_landscape_a3".to_string(),
        name: "横版A3（营业执照式，样例）".to_string(),
        width_mm: 420.0,
        height_mm: 297.0,
        blocks: vec![
            block(Numbers, 26.0, 22.0, 122.0, 16.0),
            block(Title, 130.0, 24.0, 160.0, 40.0),
            block(CopyMark, 170.0, 66.0, 80.0, 16.0),
            block(Qr, 350.0, 20.0, 44.0, 44.0),
            block(Holder, 40.0, 88.0, 340.0, 24.0),
            grid(40.0, 114.0, 340.0, 60.0, 2, 4),
            block(LongText, 40.0, 176.0, 340.0, 64.0),
            block(Issuer, 282.0, 241.0, 110.0, 33.0),
            block(Seal, 318.0, 245.0, 38.0, 38.0),
            block(Serial, 26.0, 266.0, 100.0, 9.0),
        ],
    }
}

/// 210 x 297 mm, portrait, laid out like a provincial permit (许可证).
pub fn permit_layout() -> Layout {
    use BlockRole::*;
    Layout {
        id: "sample_portrait_a4".to_string(),
        name: "竖版A4（许可证式，样例）".to_string(),
        width_mm: 210.0,
        height_mm: 297.0,
        blocks: vec![
            block(Title, 30.0, 22.0, 150.0, 30.0),
            block(CopyMark, 75.0, 54.0, 60.0, 14.0),
            block(Numbers, 22.0, 72.0, 166.0, 14.0),
            block(Holder, 22.0, 90.0, 166.0, 20.0),
            grid(22.0, 112.0, 166.0, 64.0, 1, 6),
            block(LongText, 22.0, 178.0, 166.0, 42.0),
            block(Qr, 24.0, 226.0, 34.0, 34.0),
            block(Issuer, 100.0, 228.0, 86.0, 36.0),
            block(Seal, 126.0, 238.0, 34.0, 34.0),
            block(Serial, 140.0, 270.0, 48.0, 8.0),
        ],
    }
}

/// A business scope of 971 characters, as long as real ones get.
pub const LONG_SCOPE: &str = "一般项目：技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广；软件开发；信息系统集成服务；信息技术咨询服务；数据处理和存储支持服务；计算机系统服务；网络技术服务；人工智能应用软件开发；人工智能基础软件开发；物联网技术服务；云计算装备技术服务；大数据服务；互联网数据服务；软件外包服务；工业互联网数据服务；智能控制系统集成；安全系统监控服务；信息安全设备销售；计算机软硬件及辅助设备零售；计算机软硬件及辅助设备批发；电子产品销售；通讯设备销售；办公设备销售；办公用品销售；文具用品零售；日用百货销售；五金产品零售；家用电器销售；照明器具销售；电线、电缆经营；机械设备销售；仪器仪表销售；建筑材料销售；劳动保护用品销售；会议及展览服务；组织文化艺术交流活动；企业管理咨询；市场营销策划；广告设计、代理；广告制作；广告发布；平面设计；专业设计服务；图文设计制作；礼仪服务；摄影扩印服务；票务代理服务；翻译服务；商务代理代办服务；健康咨询服务（不含诊疗服务）；家政服务；物业管理；停车场服务；住房租赁；非居住房地产租赁；机械设备租赁；办公设备租赁服务；计算机及通讯设备租赁；货物进出口；技术进出口；进出口代理；食品销售（仅销售预包装食品）；农副产品销售；新鲜水果零售；保健食品（预包装）销售；化妆品零售；个人卫生用品销售；母婴用品销售；宠物食品及用品零售；体育用品及器材零售；玩具销售；箱包销售；服装服饰零售；鞋帽零售；针纺织品销售；珠宝首饰零售；工艺美术品及收藏品零售（象牙及其制品除外）；互联网销售（除销售需要许可的商品）；供应链管理服务；国内货物运输代理；普通货物仓储服务（不含危险化学品等需许可审批的项目）；装卸搬运；包装服务；电动汽车充电基础设施运营；新能源汽车整车销售；汽车零配件零售；二手车经纪；人力资源服务（不含职业中介活动、劳务派遣服务）；教育咨询服务（不含涉许可审批的教育培训活动）；环保咨询服务；节能管理服务；园林绿化工程施工；城市绿化管理；花卉种植；礼品花卉销售；除依法须经批准的项目外，凭营业执照依法自主开展经营活动。许可项目：第二类增值电信业务；出版物零售；食品经营；道路货物运输（不含危险货物）；建设工程施工。（依法须经批准的项目，经相关部门批准后方可开展经营活动，具体经营项目以相关部门批准文件或许可证件为准）";

/// A sample certificate: a layout plus the data a licence record would give.
pub struct Sample {
    pub layout: Layout,
    pub title: &'static str,
    pub title_en: &'static str,
    pub holder_name_label: &'static str,
    pub holder_name: &'static str,
    pub holder_code_label: &'static str,
    pub holder_code: &'static str,
    pub fields: Vec<(&'static str, &'static str)>,
    pub long_texts: Vec<(&'static str, &'static str)>,
    pub validity: &'static str,
    pub authority_name: &'static str,
    pub issued_on: NaiveDate,
    pub licence_no: &'static str,
    pub identifier: &'static str,
    pub qr_text: &'static str,
    pub copies: Vec<CopyKind>,
    pub serials: Vec<String>,
}

impl Sample {
    /// The business licence (original and duplicate) with the long business scope.
    pub fn business_licence() -> Sample {
        Sample {
            layout: business_licence_layout(),
            title: "营业执照",
            title_en: "BUSINESS LICENCE",
            holder_name_label: "名称",
            holder_name: "临沂市兰山区云开数字信息科技服务有限公司",
            holder_code_label: "统一社会信用代码",
            holder_code: "91350100M000100Y43",
            fields: vec![
                ("类型", "有限责任公司（自然人投资或控股）"),
                ("法定代表人", "王建国"),
                ("注册资本", "伍佰万元整"),
                ("成立日期", "2024年05月20日"),
                ("营业期限", "2024年05月20日至2044年05月19日"),
                ("住所", "山东省临沂市兰山区金雀山街道沂蒙路与金雀山路交汇处东南角科技创业园B座1608室"),
            ],
            long_texts: vec![("经营范围", LONG_SCOPE)],
            validity: "2024年05月20日至2044年05月19日",
            authority_name: "临沂市行政审批服务局",
            issued_on: NaiveDate::from_ymd_opt(2026, 11, 28).unwrap_or(NaiveDate::MIN),
            licence_no: "YZ37130020260001",
            identifier: "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F",
            qr_text: "HTTPS://VERIFY.EXAMPLE.CN/V/2KAQGAHDMFZWK5DBMNQW4ZBAMJ2WG23FORSWCZLTORSXIIDWMFWHKZJANFZSA3TPOQQHI4TVMUQGC3TEEBWW64TFEBUGK4TFEBTG64RAORSXG5DJNZTSA5DIMUQFCURAMNXWIZJAONUXUZJAMF2CAYLMNQQGY2LNNF2HGLBAON2WG2BAMFZSA5DINFZSA2LUMVWS4",
            copies: vec![CopyKind::Original, CopyKind::Duplicate],
            serials: vec!["LY260000123".to_string(), "LY260000124".to_string()],
        }
    }

    /// A food business permit for a person, original only.
    pub fn permit() -> Sample {
        Sample {
            layout: permit_layout(),
            title: "食品经营许可证",
            title_en: "FOOD BUSINESS LICENCE",
            holder_name_label: "经营者名称",
            holder_name: "张晓梅",
            holder_code_label: "公民身份号码",
            holder_code: "11010519491231002X",
            fields: vec![
                ("法定代表人（负责人）", "张晓梅"),
                ("住所", "山东省临沂市河东区九曲街道东兴路88号"),
                ("经营场所", "山东省临沂市河东区九曲街道东兴路88号一层"),
                ("主体业态", "食品销售经营者（网络经营）"),
                ("日常监督管理机构", "临沂市河东区市场监督管理局"),
                ("投诉举报电话", "12315"),
            ],
            long_texts: vec![(
                "经营项目",
                "预包装食品（含冷藏冷冻食品）销售；散装食品（不含冷藏冷冻食品）销售；保健食品销售；特殊医学用途配方食品销售；婴幼儿配方乳粉销售；其他婴幼儿配方食品销售；热食类食品制售；冷食类食品制售；自制饮品制售。",
            )],
            validity: "2026年11月28日至2031年11月27日",
            authority_name: "临沂市河东区行政审批服务局",
            issued_on: NaiveDate::from_ymd_opt(2026, 11, 28).unwrap_or(NaiveDate::MIN),
            licence_no: "JY13713120260042",
            identifier: "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F",
            qr_text: "HTTPS://VERIFY.EXAMPLE.CN/V/PERMITSAMPLE2345ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            copies: vec![CopyKind::Original],
            serials: vec!["LY260000125".to_string()],
        }
    }

    pub fn view(&self, mode: RenderMode) -> CertificateView<'_> {
        CertificateView {
            layout: &self.layout,
            title: self.title,
            title_en: self.title_en,
            holder_name_label: self.holder_name_label,
            holder_name: self.holder_name,
            holder_code_label: self.holder_code_label,
            holder_code: self.holder_code,
            fields: &self.fields,
            long_texts: &self.long_texts,
            validity: self.validity,
            authority_name: self.authority_name,
            issued_on: self.issued_on,
            licence_no: self.licence_no,
            identifier: self.identifier,
            qr_text: self.qr_text,
            copies: &self.copies,
            serials: match mode {
                RenderMode::Print => Some(&self.serials),
                RenderMode::Specimen | RenderMode::Electronic => None,
            },
            mode,
        }
    }
}
