"""Writes the small test sources in this folder (run from the repository root with the project's
Python: ``.venv/bin/python tests/data/make_data.py``). They differ from the demo samples on
purpose: other names, alphabets and layouts, so that tests do not only see the demo's data.
The generated files are committed; this script documents how (the XLSX is binary)."""

from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).parent

PAYMENTS = """transaction_id,timestamp,from_account,to_account,amount,currency,from_name,to_name,from_country,to_country,payment_type,reference
T-1,2024-05-02T09:15:00Z,DE89370400440532013000,NL91ABNA0417164300,"1,250.00",EUR,Олена Коваль,Agro Vlaanderen BV,DE,NL,sepa,Wages April
T-2,03.05.2024 10:30:00,NL91ABNA0417164300,DE89370400440532013000,310.50,EUR,Agro Vlaanderen BV,Олена Коваль,NL,DE,sepa,Refund
T-3,2024-05-04T18:00:00+02:00,GB33BUKB20201555555555,RO49AAAA1B31007593840000,9800,GBP,Ionuț Munteanu,Ion Munteanu,GB,RO,remittance,family
"""
CALLS = """caller,callee,start_time,duration_s,caller_cell,callee_cell,call_type
+380 44 123 4567,+31 20 555 0101,2024-05-02T08:00:00Z,65,UA-KYIV-1,NL-AMS-9,voice
0031 20 555 0101,+380441234567,2024-05-02T08:05:00Z,0,NL-AMS-9,,sms
"""
COMPANIES = """registration_number,company_name,jurisdiction,incorporation_date,legal_form,address,status,sector,officer_name,officer_role,officer_birth_date,officer_nationality,owner_name,owner_type,owner_registration_number,owner_country,share_pct
KVK-7741,Agro Vlaanderen BV,NL,2019-02-01,Besloten vennootschap,"Kade 4, Rotterdam",active,01130 Growing of vegetables,Pieter de Vries,director,1975-07-19,NL,Pieter de Vries,person,,NL,60
KVK-7741,Agro Vlaanderen BV,NL,2019-02-01,Besloten vennootschap,"Kade 4, Rotterdam",active,01130 Growing of vegetables,,,,,Danube Holdings Ltd,company,HE-99812,CY,40
"""
PERSONS = """id,full_name,first_name,last_name,date_of_birth,gender,nationality,id_number,phone,email,address,city,country
UA-1,Олена Коваль,,,1992-11-03,female,UA,FE 123456,+380 44 123 4567,olena@example.org,вул. Хрещатик 1,Київ,UA
NL-7,,Pieter,de Vries,1975-07-19,male,NL,NLX123456,020 555 0101,,Kade 4,Rotterdam,NL
"""
FTM = """{"id": "td-person-munteanu", "schema": "Person", "properties": {"name": ["Ion Munteanu"], "nationality": ["ro"], "birthDate": ["1988-01-30"]}}
{"id": "td-company-danube", "schema": "Company", "properties": {"name": ["Danube Holdings Ltd"], "jurisdiction": ["cy"], "registrationNumber": ["HE-99812"]}}
{"id": "td-ownership-1", "schema": "Ownership", "properties": {"owner": ["td-person-munteanu"], "asset": ["td-company-danube"], "percentage": ["100"]}}
"""
GOAML = """<?xml version="1.0" encoding="UTF-8"?>
<report>
  <rentity_id>77</rentity_id>
  <submission_code>E</submission_code>
  <report_code>STR</report_code>
  <entity_reference>TD-0001</entity_reference>
  <submission_date>2024-06-01T00:00:00</submission_date>
  <currency_code_local>EUR</currency_code_local>
  <reason>Test report: wages paid into an account a third party controls.</reason>
  <transaction>
    <transactionnumber>TD-TX-1</transactionnumber>
    <transaction_description>Salary credit</transaction_description>
    <date_transaction>2024-05-02T09:15:00</date_transaction>
    <transmode_code>A</transmode_code>
    <amount_local>1250.00</amount_local>
    <t_from_my_client>
      <from_funds_code>A</from_funds_code>
      <from_entity>
        <name>Agro Vlaanderen BV</name>
        <incorporation_number>KVK-7741</incorporation_number>
        <incorporation_country_code>NL</incorporation_country_code>
      </from_entity>
      <from_country>NL</from_country>
    </t_from_my_client>
    <t_to_my_client>
      <to_funds_code>A</to_funds_code>
      <to_account>
        <institution_name>Test Bank</institution_name>
        <account>DE89370400440532013000</account>
        <currency_code>EUR</currency_code>
        <account_name>O KOVAL</account_name>
        <signatory>
          <is_primary>true</is_primary>
          <t_person>
            <gender>F</gender>
            <first_name>Olena</first_name>
            <last_name>KOVAL</last_name>
            <birthdate>1992-11-03T00:00:00</birthdate>
            <nationality1>UA</nationality1>
          </t_person>
          <role>A</role>
        </signatory>
      </to_account>
      <to_country>DE</to_country>
    </t_to_my_client>
  </transaction>
</report>
"""

TRAVEL = """record_id,crossed_at,direction,border_point,country,from_country,to_country,first_name,last_name,full_name,date_of_birth,nationality,document_type,document_number,document_country,carrier,vehicle
BX-1,2024-03-10T06:40:00Z,exit,Nădlac II,RO,RO,HU,Ionuț,Munteanu,,1988-01-30,RO,passport,056123456,RO,FlixBus,B 123 FLX
BX-2,10.03.2024 07:42,exit,Nădlac II,Romania,Romania,Hungary,,,Мирослава Ткаченко,14.07.2001,Ukraine,passport,FT987654,UKR,FlixBus,B 123 FLX
BX-3,2024-03-12T22:05:00+00:00,entry,London Luton Airport,GB,RO,GB,Ionuț,Munteanu,,1988-01-30,RO,passport,056123456,RO,Wizz Air,W6 3001
BX-4,2024-03-13T09:00:00Z,entry,Palanca,UA,,,,,Олена Коваль,1992-11-03,UA,ID card,,,,
"""
EMPLOYMENT = """registration_id;employer_name;employer_registration_number;employer_country;employer_address;employee_id_number;full_name;first_name;last_name;date_of_birth;gender;nationality;phone;address;start_date;end_date;occupation;declared_wage;wage_currency;wage_period
EMP-1;Agro Vlaanderen BV;KVK-7741;NL;Kade 4, Rotterdam;BSN 123456782;;Олена;Коваль;1992-11-03;F;UA;+380 44 123 4567;;01.04.2024;;seasonal picker;1850.00;EUR;month
EMP-2;Curăță Rapid SRL;;RO;Str. Lungă 5, Brașov;1880130123456;;Ionuț;Munteanu;30/01/1988;male;RO;+40 754 000 111;Str. Lungă 5, Brașov;2024-01-15;2024-02-29;cleaner;8.50;GBP;hour
EMP-3;Curăță Rapid SRL;;RO;;;Ana Lungu;;;;female;MD;07700 900123;;2024-02-01;;cleaner;300;GBP;week
"""
LAND = """title_number,country,region,city,address,property_type,area_m2,registered_at,price,currency,owner_name,owner_type,owner_birth_date,owner_id_number,owner_registration_number,owner_country,share_pct
CF-301122,RO,Brașov,Brașov,"Str. Lungă 5, ap. 3",apartment,62.50,2023-09-14,"85,000.00",EUR,Ionuț Munteanu,person,1988-01-30,,,,50
CF-301122,RO,Brașov,Brașov,"Str. Lungă 5, ap. 3",apartment,62.50,2023-09-14,"85,000.00",EUR,Ana Lungu,person,,2950407123456,,,50
NL-ROT-A-4411,NL,Zuid-Holland,Rotterdam,Kade 4,warehouse,1200,01.03.2019,950000,EUR,Agro Vlaanderen BV,company,,,KVK-7741,,60
NL-ROT-A-4411,NL,Zuid-Holland,Rotterdam,Kade 4,warehouse,1200,01.03.2019,950000,EUR,Danube Holdings Ltd,company,,,HE-99812,CY,40
8000000000:72:123:0045,UA,Київська,Київ,вул. Хрещатик 1,flat,48,2020-06-30,,,Сергій Бондаренко,,,,,,100
"""
ADS = """ad_id,posted_at,site,category,title,body,phone,email,location,country,price,image_hashes
AD-1,2024-02-01 21:15:00,escort-listings.test,escort,New girl in town,"<b>New in town</b> <script>alert('x')</script> sweet, discreet, call me",+40 721 555 010,,"London, Shoreditch",GB,£100/h,9f2c1e;b7d04a
AD-2,2024/02/03 08:00:00,munca-afara.test,job,Muncă în Anglia — salariu bun,"Căutăm muncitori pentru fabrică. Cazare și transport asigurate, plata săptămânal.",07700 900123,jobs@recrutare.example,București,RO,400 GBP/săpt.,
AD-3,2024-02-05T23:40:00Z,escort-listings.test,escort,Hot & new,Outcalls only,0040721555010,,Luton,GB,,9f2c1e
AD-4,2024-02-06T10:00:00Z,robota-za-kordonom.test,job,Робота у Великій Британії,Потрібні працівники на склад. Житло надаємо.,,hr@robota.example,Львів,UA,,
"""
NOTES = """note_id,recorded_at,source,note_type,grading,title,text,person_name,person_birth_date,person_nationality,person_phone,person_role,organisation_name,organisation_registration_number,address,city,country
IN-24-001,2024-02-10T14:00:00Z,Bedfordshire Police,intelligence,3x5x2,Workers collected at dawn,"A minibus collects 8-10 workers at 05:00 and drives them to a car wash; they appear not to keep their wages.",Ionuț Munteanu,1988-01-30,RO,+40 754 000 111,driver,,,Unit 7 Sundon Park Road,Luton,GB
IN-24-001,2024-02-10T14:00:00Z,Bedfordshire Police,intelligence,3x5x2,Workers collected at dawn,"A minibus collects 8-10 workers at 05:00 and drives them to a car wash; they appear not to keep their wages.",Ana Lungu,,MD,,recruiter,,,Unit 7 Sundon Park Road,Luton,GB
HL-0042,12.02.2024 09:30,Unseen hotline,hotline,,Caller reports passport taken,"Caller says her employer keeps her passport.",Олена Коваль,1992-11-03,UA,07700 900456,victim,,,,,GB
LI-2024-17,2024-02-20T11:00:00Z,Inspectie SZW,inspection,5x5x5,Farm inspection,"Twelve workers, no contracts, housing deducted from pay.",,,,,,Agro Vlaanderen BV,KVK-7741,Kade 4,Rotterdam,NL
LI-2024-17,2024-02-20T11:00:00Z,Inspectie SZW,inspection,5x5x5,Farm inspection,"Twelve workers, no contracts, housing deducted from pay.",,,,,,Kade Uitzendbureau,,Kade 4,Rotterdam,NL
"""


def main() -> None:
    for name, text in [
        ("payments.csv", PAYMENTS),
        ("calls.csv", CALLS),
        ("companies.csv", COMPANIES),
        ("persons.csv", PERSONS),
        ("entities.ftm.jsonl", FTM),
        ("goaml.xml", GOAML),
        ("travel.csv", TRAVEL),
        ("employment.csv", EMPLOYMENT),
        ("land.csv", LAND),
        ("ads.csv", ADS),
        ("notes.csv", NOTES),
    ]:
        (HERE / name).write_text(text, encoding="utf-8")
    book = Workbook()
    sheet = book.active
    sheet.title = "suspects"
    sheet.append(["id", "first_name", "last_name", "date_of_birth", "nationality", "phone"])
    sheet.append(["RO-9", "Ionuț", "Munteanu", "1988-01-30", "RO", "+40 754 000 111"])
    sheet.append(["RO-10", "Ana", "Lungu", None, "MD", None])
    book.save(HERE / "persons.xlsx")


if __name__ == "__main__":
    main()
